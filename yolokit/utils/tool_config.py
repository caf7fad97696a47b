"""Config and path handling shared by yolokit's tools and demos.

Every tool reads its config through :func:`read_config`, so a missing file,
a wrong suffix or a syntax error (also in a ``_base_`` file) is reported
with the file and line instead of MMEngine's messages, which name
``<unknown>`` or a temporary copy of the file.
"""
import ast
import difflib
import os
import os.path as osp
from typing import List, Optional, Set

from mmengine.config import Config

from .checkpoint_safety import register_checkpoint_globals
from .setup_env import register_all_modules

CONFIG_SUFFIXES = ('.py', '.json', '.yaml', '.yml')
_CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.ckpt', '.bin')


class ConfigSyntaxError(SyntaxError):
    """A config file (or one of its ``_base_`` files) is not valid Python.

    ``str()`` is ``path:line: SyntaxError: reason`` followed by the
    offending line; ``filename``, ``lineno`` and ``offset`` are set as for
    any ``SyntaxError``.
    """

    def __str__(self) -> str:
        return self.msg


def close_file_names(path: str, limit: int = 3) -> List[str]:
    """Entries of ``path``'s folder whose names resemble its base name."""
    folder = osp.dirname(path) or '.'
    if not osp.isdir(folder):
        return []
    names = difflib.get_close_matches(
        osp.basename(path), sorted(os.listdir(folder)), n=limit, cutoff=0.6)
    return [osp.join(osp.dirname(path), name) for name in names]


def _did_you_mean(path: str) -> str:
    close = close_file_names(path)
    return f' Similar files: {", ".join(close)}.' if close else ''


def _base_paths(tree: ast.Module, path: str) -> List[str]:
    """Local ``_base_`` files named by a parsed config, if literal."""
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets)):
            continue
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            return []  # computed base paths: left to MMEngine
        names = [value] if isinstance(value, str) else list(value)
        # ``package::path`` bases live in installed packages
        return [
            osp.normpath(osp.join(osp.dirname(path), name)) for name in names
            if isinstance(name, str) and '::' not in name
        ]
    return []


def find_config_syntax_error(
        path: str,
        _seen: Optional[Set[str]] = None) -> Optional[ConfigSyntaxError]:
    """The first syntax error in ``path`` or its ``_base_`` files, if any.

    Args:
        path (str): A ``.py`` config file.

    Returns:
        ConfigSyntaxError or None: The error, naming the file and line.
    """
    seen = set() if _seen is None else _seen
    real = osp.realpath(path)
    if real in seen or not (osp.isfile(path) and path.endswith('.py')):
        return None
    seen.add(real)
    with open(path, encoding='utf-8') as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        line = (e.text or '').strip()
        return ConfigSyntaxError(
            f'{path}:{e.lineno}: SyntaxError: {e.msg}\n    {line}',
            (path, e.lineno, e.offset, e.text))
    for base in _base_paths(tree, path):
        error = find_config_syntax_error(base, seen)
        if error is not None:
            return error
    return None


def read_config(path: str) -> Config:
    """``Config.fromfile`` with errors that name the file.

    Raises:
        FileNotFoundError: ``path`` is not an existing file (similar names
            in its folder are listed).
        OSError: ``path`` does not end in a config suffix (a checkpoint
            passed in the config's place gets a hint).
        ConfigSyntaxError: The file or one of its ``_base_`` files is not
            valid Python (a ``SyntaxError``, as MMEngine raises).
    """
    if not osp.isfile(path):
        what = 'is a directory' if osp.isdir(path) else 'does not exist'
        raise FileNotFoundError(
            f'Config file {path} {what}; expected a config file '
            f'({", ".join(CONFIG_SUFFIXES)}).{_did_you_mean(path)}')
    suffix = osp.splitext(path)[1]
    if suffix not in CONFIG_SUFFIXES:
        hint = (' It looks like a checkpoint: the config comes first, e.g. '
                'tools/test.py CONFIG CHECKPOINT.'
                if suffix in _CHECKPOINT_SUFFIXES else '')
        raise OSError(f'Config file {path}: expected a file ending in '
                      f'{", ".join(CONFIG_SUFFIXES)}, got "{suffix}".{hint}')
    try:
        return Config.fromfile(path)
    except SyntaxError:
        error = find_config_syntax_error(path)
        if error is None:
            raise
        raise error from None


def is_remote_path(path: str) -> bool:
    """Whether MMEngine loads ``path`` through a URL-like scheme."""
    return '://' in path


def check_checkpoint_path(path: str, what: str = 'Checkpoint') -> None:
    """Fail early, before anything is built or written, on a missing file.

    URLs and other ``scheme://`` paths are left to MMEngine's loaders.

    Raises:
        FileNotFoundError: ``path`` is local and not an existing file.
    """
    if is_remote_path(path) or osp.isfile(path):
        return
    raise FileNotFoundError(f'{what} {path} does not exist; expected a '
                            f'checkpoint file or URL.{_did_you_mean(path)}')


def load_tool_config(config_path: str,
                     launcher: str = 'none',
                     cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None) -> Config:
    """Load a config the way the training and test tools do.

    Registers yolokit's modules without changing the default scope (the
    runner makes ``cfg.default_scope`` current), allow-lists the checkpoint
    types for ``torch.load(weights_only=True)``, replaces ``${key}``
    placeholders, merges ``--cfg-options`` and picks the work directory:
    ``work_dir`` if given, else the config's, else
    ``./work_dirs/<config name>``.

    Args:
        config_path (str): Path of the config file.
        launcher (str): Job launcher. Defaults to ``'none'``.
        cfg_options (dict, optional): Dotted-key overrides. Defaults to None.
        work_dir (str, optional): Work directory. Defaults to None.

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.

    Raises:
        FileExistsError: The work directory is an existing file (MMEngine
            would fail creating it, after building the model).
        Others: see :func:`read_config`.
    """
    register_all_modules(init_default_scope=False)
    register_checkpoint_globals()
    # Imported here so that yolokit's dependency check runs before MMDet.
    from mmdet.utils import replace_cfg_vals

    cfg = replace_cfg_vals(read_config(config_path))
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    if osp.exists(cfg.work_dir) and not osp.isdir(cfg.work_dir):
        raise FileExistsError(
            f'work_dir {cfg.work_dir} is an existing file; expected a '
            'directory (or a path to create) for logs and checkpoints.')
    return cfg
