"""Registration of every yolokit module and the default registry scope."""
import importlib
import time
import warnings

from mmengine import DefaultScope

# Importing these packages runs their ``@register_module`` decorators.
_REGISTERING_PACKAGES = (
    'mmdet.engine',
    'mmdet.evaluation',
    'mmdet.models',
    'mmdet.visualization',
    'yolokit.datasets',
    'yolokit.engine',
    'yolokit.models',
)


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register all modules of yolokit (and MMDetection) into the registries.

    It also allow-lists the types of MMEngine checkpoints for safe loading
    and routes MMEngine's checkpoint loaders through
    :func:`~yolokit.utils.checkpoint_safety.explain_load_errors`.

    Args:
        init_default_scope (bool): Whether to make ``'yolokit'`` the current
            default scope, so that ``type`` names resolve in yolokit's
            registries first. If another scope is current, a new
            ``DefaultScope`` instance is created and a warning is given.
            Defaults to True.
    """
    for package in _REGISTERING_PACKAGES:
        importlib.import_module(package)
    from .checkpoint_safety import (register_checkpoint_globals,
                                    route_checkpoint_loaders)
    # Checkpoints load safely, and refusals name the file and the type.
    register_checkpoint_globals()
    route_checkpoint_loaders()
    if init_default_scope:
        _make_yolokit_scope_current()


def _make_yolokit_scope_current() -> None:
    current = DefaultScope.get_current_instance()
    if current is not None and current.scope_name == 'yolokit':
        return
    if current is None and not DefaultScope.check_instance_created('yolokit'):
        DefaultScope.get_instance('yolokit', scope_name='yolokit')
        return
    if current is not None:
        warnings.warn(f'The current default scope is "{current.scope_name}"; '
                      '`register_all_modules` makes "yolokit" current. Pass '
                      '`init_default_scope=False` to keep it.')
    # Instance names are global and unique, and the newest instance becomes
    # the current one, so a fresh name is needed to switch back.
    DefaultScope.get_instance(
        f'yolokit-{time.time_ns()}', scope_name='yolokit')
