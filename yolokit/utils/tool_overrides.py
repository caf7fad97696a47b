"""What the flags of the tools change in a config.

Each flag is a pure function from the config (or the flag's value) to
*overrides*: a dict that maps dotted keys (``'optim_wrapper.type'``) to
their new values. :func:`apply_overrides` writes them into the config. The
tools therefore show, and the tests check, exactly which keys a flag
touches.
"""
from typing import Any, Dict, Mapping, Optional, Tuple

from mmengine.config import ConfigDict

from .errors import MissingConfigKeyError

Overrides = Dict[str, Any]

# ``--resume`` without a path: MMEngine then searches the work directory.
RESUME_LATEST = 'auto'


class FlagNotApplicableError(AssertionError):
    """A tool flag does not fit the config (MMYOLO asserts these cases)."""


def amp_overrides(optim_wrapper: Mapping, has_accelerator: bool) -> Overrides:
    """``--amp``: train with MMEngine's ``AmpOptimWrapper``, dynamic scale.

    Args:
        optim_wrapper (Mapping): ``cfg.optim_wrapper``.
        has_accelerator (bool): Whether a GPU (NPU, MLU, MUSA) is present.

    Returns:
        dict: The overrides; empty if the config already uses AMP.

    Raises:
        FlagNotApplicableError: Without an accelerator (the AMP wrapper is
            GPU-only), or for a wrapper type other than ``OptimWrapper``.
    """
    if not has_accelerator:
        raise FlagNotApplicableError(
            '--amp needs a GPU (or NPU/MLU/MUSA device): MMEngine\'s '
            'AmpOptimWrapper does not run on CPU, and no accelerator is '
            'available. Train without --amp; CPU training runs in float32.')
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        return {}
    if wrapper_type != 'OptimWrapper':
        raise FlagNotApplicableError(
            "--amp only works with optim_wrapper.type='OptimWrapper', but "
            f'the config uses {wrapper_type!r}.')
    return {
        'optim_wrapper.type': 'AmpOptimWrapper',
        'optim_wrapper.loss_scale': 'dynamic'
    }


def resume_overrides(resume: Optional[str]) -> Overrides:
    """``--resume [CHECKPOINT]``: resume from a file or the latest one.

    Args:
        resume (str, optional): None (flag absent), :data:`RESUME_LATEST`
            (flag without a path) or a checkpoint path.

    Returns:
        dict: ``resume`` and ``load_from``; a given path wins over the
        config's ``load_from``, and without a path ``load_from`` is cleared
        so that MMEngine looks for the latest checkpoint in the work dir.
    """
    if resume is None:
        return {}
    return {
        'resume': True,
        'load_from': None if resume == RESUME_LATEST else resume
    }


def innermost_dataset(
        dataset: Mapping,
        key: str = 'test_dataloader.dataset') -> Tuple[str, Mapping]:
    """The dataset inside wrappers (RepeatDataset, ...) and its dotted key."""
    while 'dataset' in dataset:
        dataset, key = dataset['dataset'], f'{key}.dataset'
    return key, dataset


def tta_overrides(cfg: Mapping, config_path: str) -> Overrides:
    """``--tta``: wrap the model in ``tta_model``, test with
    ``tta_pipeline``.

    The test dataset (the innermost one, inside any wrappers) gets the TTA
    pipeline, and its batch shapes are switched off: they fix one letterbox
    size per batch, while the TTA views each have their own size.

    Args:
        cfg (Mapping): The config.
        config_path (str): Its file, for the error message.

    Returns:
        dict: The overrides of ``model`` and of the test dataset.

    Raises:
        MissingConfigKeyError: ``tta_model`` or ``tta_pipeline`` is absent
            or None (a derived config drops inherited ones with ``= None``).
    """
    missing = [k for k in ('tta_model', 'tta_pipeline') if cfg.get(k) is None]
    if missing:
        raise MissingConfigKeyError(
            '--tta needs `tta_model` and `tta_pipeline` in the config, but '
            f'{config_path} does not define '
            f'{" or ".join(f"`{k}`" for k in missing)}. Inherit '
            "configs/_base_/det_p5_tta.py (e.g. _base_ = [..., "
            "'../_base_/det_p5_tta.py']) or define them yourself.")
    dataset_key, dataset = innermost_dataset(cfg['test_dataloader']['dataset'])
    overrides = {
        'model': ConfigDict(**cfg['tta_model'], module=cfg['model']),
        f'{dataset_key}.pipeline': cfg['tta_pipeline'],
    }
    if 'batch_shapes_cfg' in dataset:
        overrides[f'{dataset_key}.batch_shapes_cfg'] = None
    return overrides


def apply_overrides(cfg: Any, overrides: Mapping[str, Any]) -> None:
    """Set each dotted key of ``overrides`` in ``cfg`` (in place).

    Unlike ``Config.merge_from_dict``, a dict value replaces the old value
    instead of being merged into it (``model`` must lose its old keys).
    """
    for key, value in overrides.items():
        *parents, leaf = key.split('.')
        node = cfg
        for part in parents:
            node = node[part]
        node[leaf] = value
