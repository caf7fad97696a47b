"""The config loading shared by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .checkpoint_safety import register_checkpoint_globals
from .setup_env import register_all_modules


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
    """
    register_all_modules(init_default_scope=False)
    register_checkpoint_globals()
    # Imported here so that yolokit's dependency check runs before MMDet.
    from mmdet.utils import replace_cfg_vals

    cfg = replace_cfg_vals(Config.fromfile(config_path))
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join(
            './work_dirs',
            osp.splitext(osp.basename(config_path))[0])
    return cfg
