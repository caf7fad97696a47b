"""Compare a model's layout with a module tree of the spec.

A module-tree file (the spec's ``module_trees/<algo>/<config>.txt``) lists
one entry per line: ``module <name> <ClassName>`` for every submodule
(``.`` is the root) and ``param <state_dict key> <shape>`` for every
state_dict entry; ``#`` starts a comment line. A model matching the file
loads the checkpoints made for that layout with ``strict=True``.

The spec folder is not part of a clone of the repository, so the test suite
carries the same facts in one compressed fixture (see
:func:`write_module_tree_fixture`), read back with
:class:`ModuleTreeFixture`. Both keep the file order of the entries, which
is the registration order of the modules and so the order of the
parameters an optimizer state refers to.
"""
import ast
import glob
import gzip
import io
import json
import os.path as osp
from typing import Dict, Iterator, List, Mapping, Tuple

import torch.nn as nn

ModuleTree = Tuple[Dict[str, str], Dict[str, Tuple[int, ...]]]

# Written into the fixture; a reader that meets another value refuses it
# instead of misreading a layout it does not know.
FIXTURE_FORMAT = 'yolokit-module-trees/1'


def read_module_tree(path: str) -> ModuleTree:
    """Read a module-tree file.

    Args:
        path (str): The file.

    Returns:
        tuple[dict, dict]: Submodule name -> class name, and state_dict
        key -> shape, both in file order.

    Raises:
        ValueError: A line is neither a ``module`` nor a ``param`` entry.
    """
    modules: Dict[str, str] = {}
    params: Dict[str, Tuple[int, ...]] = {}
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line or line.startswith('#'):
                continue
            kind, _, rest = line.partition(' ')
            if kind == 'module':
                name, cls_name = rest.rsplit(' ', 1)
                modules[name] = cls_name
            elif kind == 'param':
                key, shape = rest.split(' ', 1)
                params[key] = tuple(ast.literal_eval(shape))
            else:
                raise ValueError(
                    f'{path}:{number}: expected a "module <name> <class>" '
                    f'or "param <key> <shape>" line, got {line!r}')
    return modules, params


def read_module_tree_dir(root: str) -> Dict[str, ModuleTree]:
    """Read every ``*.txt`` module tree below ``root``.

    Args:
        root (str): The spec's ``module_trees`` folder.

    Returns:
        dict[str, tuple[dict, dict]]: Tree by its path relative to ``root``
        without ``.txt`` (``'yolov5/voc/yolov5_n-v61_fast_1xb64-50e_voc'``),
        which is also the config's path relative to ``configs/`` without
        ``.py``; sorted by that name.

    Raises:
        FileNotFoundError: ``root`` holds no module-tree file.
    """
    paths = {
        osp.splitext(osp.relpath(path, root))[0].replace(osp.sep, '/'): path
        for path in glob.glob(osp.join(root, '**', '*.txt'), recursive=True)
    }
    if not paths:
        raise FileNotFoundError(
            f'no module-tree files (*.txt) found below {root!r}')
    return {name: read_module_tree(paths[name]) for name in sorted(paths)}


def _intern(table: List[list], entries: list) -> int:
    """Index of ``entries`` in ``table``, appended if new."""
    for index, known in enumerate(table):
        if known == entries:
            return index
    table.append(entries)
    return len(table) - 1


def encode_module_trees(trees: Mapping[str, ModuleTree]) -> bytes:
    """The fixture bytes of ``trees``: gzip of a JSON document.

    Size variants and pipeline-only variants of a config share their layout
    (several configs build the same model), so each distinct module list
    and state_dict list is stored once and the trees point at it by index;
    this halves the fixture. The output depends only on ``trees``: keys
    sorted, tables in order of first use, gzip mtime 0 and no file name.

    Args:
        trees (Mapping[str, tuple[dict, dict]]): Tree by name, as returned
            by :func:`read_module_tree_dir`.

    Returns:
        bytes: The content of the fixture file.
    """
    module_lists: List[list] = []
    param_lists: List[list] = []
    index = {}
    for name in sorted(trees):
        modules, params = trees[name]
        index[name] = dict(
            modules=_intern(module_lists,
                            [[k, v] for k, v in modules.items()]),
            params=_intern(param_lists,
                           [[k, list(v)] for k, v in params.items()]))
    text = json.dumps(
        dict(
            format=FIXTURE_FORMAT,
            trees=index,
            module_lists=module_lists,
            param_lists=param_lists),
        sort_keys=True,
        separators=(',', ':'))
    buffer = io.BytesIO()
    with gzip.GzipFile(
            filename='', mode='wb', fileobj=buffer, compresslevel=9,
            mtime=0) as f:
        f.write(text.encode('utf-8'))
    return buffer.getvalue()


def write_module_tree_fixture(trees: Mapping[str, ModuleTree],
                              path: str) -> int:
    """Write ``trees`` to the fixture file ``path``; returns its size.

    Writing the same trees again gives the same bytes (see
    :func:`encode_module_trees`).
    """
    data = encode_module_trees(trees)
    with open(path, 'wb') as f:
        f.write(data)
    return len(data)


class ModuleTreeFixture(Mapping[str, ModuleTree]):
    """The module trees of a fixture file, by name.

    ``fixture['yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco']`` is the tree
    of ``configs/yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py``, in the
    form of :func:`read_module_tree`.

    Args:
        path (str): A file written by :func:`write_module_tree_fixture`.

    Raises:
        ValueError: The file is not such a fixture.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        with gzip.open(path, 'rt', encoding='utf-8') as f:
            document = json.load(f)
        found = document.get('format') if isinstance(document, dict) else None
        if found != FIXTURE_FORMAT:
            raise ValueError(
                f'{path}: expected a module-tree fixture of format '
                f'{FIXTURE_FORMAT!r}, got format {found!r}')
        self._index: Dict[str, dict] = document['trees']
        self._module_lists: List[list] = document['module_lists']
        self._param_lists: List[list] = document['param_lists']

    def __getitem__(self, name: str) -> ModuleTree:
        if name not in self._index:
            family = name.split('/', 1)[0]
            known = [n for n in self._index if n.startswith(family + '/')]
            raise KeyError(
                f'{self.path} has no module tree {name!r}; the trees of '
                f'{family!r} are {known}')
        entry = self._index[name]
        modules = dict(self._module_lists[entry['modules']])
        params = {k: tuple(v) for k, v in self._param_lists[entry['params']]}
        return modules, params

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._index))

    def __len__(self) -> int:
        return len(self._index)

    def names(self, family: str) -> List[str]:
        """Sorted names below ``family`` (e.g. ``'yolov5'``), with the
        ``'<family>/'`` prefix removed: ``'voc/yolov5_n-...'``."""
        prefix = family.rstrip('/') + '/'
        return [n[len(prefix):] for n in self if n.startswith(prefix)]


def model_module_tree(model: nn.Module) -> ModuleTree:
    """The layout of a live model, in the form of :func:`read_module_tree`."""
    modules = {
        (name or '.'): type(module).__name__
        for name, module in model.named_modules()
    }
    params = {
        key: tuple(value.shape)
        for key, value in model.state_dict().items()
    }
    return modules, params


def _differences(expected: dict, actual: dict, what: str) -> List[str]:
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    wrong = [
        f'{k}: expected {expected[k]}, got {actual[k]}' for k in expected
        if k in actual and expected[k] != actual[k]
    ]
    problems = [
        f'{len(keys)} {what} {label}, e.g. {keys[:8]}'
        for keys, label in ((missing, 'missing'), (extra, 'unexpected'),
                            (wrong, 'differ')) if keys
    ]
    if not problems and list(expected) != list(actual):
        # same entries, other registration order: an optimizer state saved
        # for one layout would be applied to the wrong parameters
        first = next(i for i, (e, a) in enumerate(zip(expected, actual))
                     if e != a)
        problems.append(f'{what} in another order: entry {first} is '
                        f'{list(actual)[first]!r}, expected '
                        f'{list(expected)[first]!r}')
    return problems


def tree_differences(model: nn.Module, tree: ModuleTree) -> List[str]:
    """How ``model`` differs from ``tree``.

    Args:
        model (nn.Module): The model.
        tree (tuple[dict, dict]): The expected layout, as returned by
            :func:`read_module_tree` or a :class:`ModuleTreeFixture`.

    Returns:
        list[str]: One line per kind of difference (missing, unexpected or
        different modules and state_dict entries, or the same entries in
        another order); empty if they match.
    """
    expected_modules, expected_params = tree
    modules, params = model_module_tree(model)
    return (_differences(expected_modules, modules, 'modules') +
            _differences(expected_params, params, 'state_dict entries'))


def module_tree_differences(model: nn.Module, path: str) -> List[str]:
    """How ``model`` differs from the module-tree file ``path``; see
    :func:`tree_differences`."""
    return tree_differences(model, read_module_tree(path))
