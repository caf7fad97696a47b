"""Locating and loading the configs shipped with yolokit."""
import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict


def get_repo_root() -> str:
    """Directory holding ``configs/``: the source tree or ``yolokit/.mim``."""
    package_dir = osp.dirname(osp.dirname(osp.abspath(__file__)))
    source_root = osp.dirname(package_dir)
    if osp.isdir(osp.join(source_root, 'configs')):
        return source_root
    mim_root = osp.join(package_dir, '.mim')
    if osp.isdir(osp.join(mim_root, 'configs')):
        return mim_root
    raise FileNotFoundError(
        f'Cannot find the yolokit configs: neither {source_root}/configs nor '
        f'{mim_root}/configs exists. Install yolokit from its repository.')


def get_config_file(fname: str) -> str:
    """Absolute path of ``configs/<fname>``.

    Args:
        fname (str): Path relative to ``configs/``, e.g.
            ``'yolov5/yolov5_s-v61_syncbn_8xb16-300e_coco.py'``.
    """
    path = osp.join(get_repo_root(), 'configs', fname)
    if not osp.isfile(path):
        raise FileNotFoundError(f'No config configs/{fname} (looked at {path})')
    return path


def get_detector_cfg(fname: str,
                     num_classes: Optional[int] = None) -> ConfigDict:
    """The ``model`` config of a shipped config file, as a deep copy.

    Args:
        fname (str): Path relative to ``configs/``.
        num_classes (int, optional): If given, overrides the number of
            classes of the bbox head module.

    Returns:
        ConfigDict: The model config, ready for ``MODELS.build``.
    """
    config = Config.fromfile(get_config_file(fname))
    model = ConfigDict(config.model.to_dict())
    if num_classes is not None:
        head = model.get('bbox_head', {})
        target = head.get('head_module', head)
        target['num_classes'] = num_classes
    return model
