"""Check that every registry name a training config uses resolves.

A config can build its model and still fail at the first epoch because a
transform, hook, metric or sampler name is misspelt or not registered. The
config tests of each family run :func:`check_config_components` on every
shipped config instead of repeating the walk.
"""
from typing import Iterator, List

from mmengine.config import Config
from mmengine.registry import FUNCTIONS

from yolokit.registry import (DATA_SAMPLERS, DATASETS, HOOKS, METRICS, MODELS,
                              OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                              TRANSFORMS)


def dataset_pipelines(cfg: Config) -> Iterator[List[dict]]:
    """The train/val/test pipelines, those of pipeline-switch hooks and,
    when the config has one, the TTA pipeline."""
    for split in ('train', 'val', 'test'):
        yield cfg[f'{split}_dataloader'].dataset.pipeline
    for hook in cfg.get('custom_hooks', []):
        if 'switch_pipeline' in hook:
            yield hook.switch_pipeline
    if cfg.get('tta_pipeline') is not None:
        yield cfg.tta_pipeline


def check_config_components(cfg: Config) -> None:
    """Build every transform and look up every dataset, sampler, collate
    function, metric, hook, optimizer wrapper (constructor) and TTA model
    name of ``cfg``; raises the registry's error on the first unknown
    one."""
    for pipeline in dataset_pipelines(cfg):
        for step in pipeline:
            TRANSFORMS.build(step)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        DATA_SAMPLERS.get(loader.sampler.type)
        DATASETS.get(loader.dataset.type)
        if 'collate_fn' in loader and \
                FUNCTIONS.get(loader.collate_fn.type) is None:
            raise KeyError(f'{split}_dataloader.collate_fn: '
                           f'{loader.collate_fn.type!r} is not registered')
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        METRICS.get(evaluator.type)
    hooks = list(cfg.default_hooks.values()) + list(
        cfg.get('custom_hooks', []))
    for hook in hooks:
        if HOOKS.get(hook.type) is None:
            raise KeyError(f'hook {hook.type!r} is not registered')
    OPTIM_WRAPPERS.get(cfg.optim_wrapper.type)
    if 'constructor' in cfg.optim_wrapper:
        OPTIM_WRAPPER_CONSTRUCTORS.get(cfg.optim_wrapper.constructor)
    if cfg.get('tta_model') is not None:
        MODELS.get(cfg.tta_model.type)
