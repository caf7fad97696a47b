"""yolokit: YOLO-family object detection on the OpenMMLab 2.0 stack."""
from .utils.version_check import check_dependency_versions
from .version import __version__, version_info

# Fail early, with one message naming installed and required versions,
# before importing anything that would die on a mismatch with a less
# helpful error (MMDetection asserts on the mmcv version, for example).
check_dependency_versions()


def _register_config_package() -> None:
    # mmengine only resolves `package::path` config names for packages in
    # its MODULE2PACKAGE table, which predates yolokit.
    from mmengine.config.utils import MODULE2PACKAGE
    MODULE2PACKAGE.setdefault('yolokit', 'yolokit')


_register_config_package()

__all__ = ['__version__', 'version_info', 'check_dependency_versions']
