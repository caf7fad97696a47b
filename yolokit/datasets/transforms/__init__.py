"""Data transforms of yolokit (interim: imports every module in this folder).

The explicit export list is written once all transforms exist.
"""
import importlib
import pkgutil

__all__ = []
for _info in pkgutil.iter_modules(__path__):
    _module = importlib.import_module(f'{__name__}.{_info.name}')
    for _name in getattr(_module, '__all__', ()):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)

# Configs use `type='Compose'` inside TestTimeAug branches; resolve it in the
# yolokit scope to mmcv's Compose (MMDetection registers none of its own).
from mmcv.transforms import Compose as _Compose  # noqa: E402

from yolokit.registry import TRANSFORMS as _TRANSFORMS  # noqa: E402

_TRANSFORMS.register_module(module=_Compose, force=True)
