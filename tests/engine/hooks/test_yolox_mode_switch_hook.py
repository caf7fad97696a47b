"""YOLOXModeSwitchHook: switch epoch, pipeline and L1 loss, persistent
workers, model wrappers, the rebuild fallback, and a real training run.

The switch epoch follows the original YOLOX / MMYOLO: before the epoch with
``runner.epoch + 1 == max_epochs - num_last_epochs`` (e.g. ``runner.epoch ==
284`` for 300 epochs and 15 last epochs), after which the new pipeline and
``bbox_head.use_bbox_aux = True`` stay in force.
"""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.model import BaseModel
from torch.utils.data import DataLoader, Dataset

from yolokit.engine.hooks import YOLOXModeSwitchHook
from yolokit.registry import DATASETS, HOOKS, TRANSFORMS


@TRANSFORMS.register_module(name='_TestYOLOXTag', force=True)
class _Tag:
    """Writes its ``value`` into the sample, so a batch shows the pipeline
    that produced it."""

    def __init__(self, value):
        self.value = value

    def __call__(self, results):
        results = dict(results)
        results['tag'] = self.value
        return results


class _ToyDataset(Dataset):

    def __init__(self,
                 size=4,
                 pipeline=(dict(type='_TestYOLOXTag', value=1), )):
        self.size = size
        self.pipeline = Compose([TRANSFORMS.build(t) for t in pipeline])

    def __len__(self):
        return self.size

    def __getitem__(self, idx):
        return self.pipeline(dict(idx=idx))


@DATASETS.register_module(name='_TestYOLOXNoPipelineDataset', force=True)
class _NoPipelineDataset(Dataset):
    """A dataset without a ``pipeline`` attribute (cannot be switched in
    place); ``tag`` comes from its constructor."""

    def __init__(self, tag=1, size=2):
        self.tag = tag
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, idx):
        return dict(idx=idx, tag=self.tag)


class _Head(nn.Module):

    def __init__(self):
        super().__init__()
        self.use_bbox_aux = False


class _Detector(nn.Module):

    def __init__(self):
        super().__init__()
        self.bbox_head = _Head()


NEW_PIPELINE = [dict(type='_TestYOLOXTag', value=2)]


def _tags(loader):
    return sorted({int(t) for batch in loader for t in batch['tag']})


def _fake_runner(loader, model=None, max_epochs=10, cfg=None):
    return SimpleNamespace(
        epoch=0,
        max_epochs=max_epochs,
        model=model if model is not None else _Detector(),
        train_loop=SimpleNamespace(dataloader=loader),
        logger=logging.getLogger('test_yolox_mode_switch_hook'),
        cfg=cfg if cfg is not None else Config(),
        seed=0)


def test_registered_with_defaults():
    hook = HOOKS.build(dict(type='YOLOXModeSwitchHook'))
    assert isinstance(hook, YOLOXModeSwitchHook)
    assert hook.num_last_epochs == 15
    assert hook.new_train_pipeline_cfg is None
    with pytest.raises(ValueError, match='num_last_epochs'):
        YOLOXModeSwitchHook(num_last_epochs=-1)


@pytest.mark.parametrize('max_epochs, num_last, switch_at', [(300, 15, 284),
                                                             (10, 3, 6),
                                                             (5, 5, 0)])
def test_switches_once_at_the_right_epoch(max_epochs, num_last, switch_at):
    loader = DataLoader(_ToyDataset(), batch_size=2)
    runner = _fake_runner(loader, max_epochs=max_epochs)
    hook = YOLOXModeSwitchHook(
        num_last_epochs=num_last, new_train_pipeline=NEW_PIPELINE)
    head = runner.model.bbox_head
    history = []
    for epoch in range(max_epochs):
        runner.epoch = epoch
        if epoch == switch_at:
            # a user switching the L1 loss off again is not overridden
            assert head.use_bbox_aux is False
        hook.before_train_epoch(runner)
        history.append(head.use_bbox_aux)
        if epoch in (switch_at - 1, switch_at):
            assert _tags(loader) == ([2] if epoch == switch_at else [1])
        if epoch == switch_at:
            head.use_bbox_aux = 'kept'
    assert history[:switch_at] == [False] * switch_at
    assert history[switch_at] is True
    assert history[switch_at + 1:] == ['kept'] * (max_epochs - switch_at - 1)


def test_resumed_after_the_switch_point():
    loader = DataLoader(_ToyDataset(), batch_size=2)
    runner = _fake_runner(loader, max_epochs=10)
    runner.epoch = 8  # resumed in the last epochs
    YOLOXModeSwitchHook(
        num_last_epochs=3,
        new_train_pipeline=NEW_PIPELINE).before_train_epoch(runner)
    assert runner.model.bbox_head.use_bbox_aux is True
    assert _tags(loader) == [2]


def test_unwraps_model_wrappers():
    model = nn.DataParallel(_Detector())  # registered as a model wrapper
    runner = _fake_runner(
        DataLoader(_ToyDataset(), batch_size=2), model=model, max_epochs=2)
    YOLOXModeSwitchHook(num_last_epochs=1).before_train_epoch(runner)
    assert model.module.bbox_head.use_bbox_aux is True


def test_without_new_pipeline_only_the_loss_switches():
    loader = DataLoader(_ToyDataset(), batch_size=2)
    runner = _fake_runner(loader, max_epochs=2)
    YOLOXModeSwitchHook(num_last_epochs=1).before_train_epoch(runner)
    assert runner.model.bbox_head.use_bbox_aux is True
    assert _tags(loader) == [1]


def test_persistent_workers_pick_up_the_new_pipeline():
    loader = DataLoader(
        _ToyDataset(size=4),
        batch_size=2,
        num_workers=1,
        persistent_workers=True)
    runner = _fake_runner(loader, max_epochs=3)
    hook = YOLOXModeSwitchHook(
        num_last_epochs=1, new_train_pipeline=NEW_PIPELINE)
    assert _tags(loader) == [1]
    assert _tags(loader) == [1]  # the same workers, still the old copy
    old_iterator = loader._iterator
    assert old_iterator is not None
    runner.epoch = 1
    hook.before_train_epoch(runner)
    assert _tags(loader) == [2]
    assert loader._iterator is not old_iterator


def test_wrapped_and_concatenated_datasets():
    from torch.utils.data import ConcatDataset
    parts = [_ToyDataset(size=2), _ToyDataset(size=2)]
    wrapper = SimpleNamespace(dataset=ConcatDataset(parts))
    loader = SimpleNamespace(dataset=wrapper)
    runner = _fake_runner(loader, max_epochs=1)
    YOLOXModeSwitchHook(
        num_last_epochs=0,
        new_train_pipeline=NEW_PIPELINE).before_train_epoch(runner)
    assert [p[0]['tag'] for p in parts] == [2, 2]


def test_rebuilds_the_loader_when_the_dataset_has_no_pipeline(monkeypatch):
    loader_cfg = dict(
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='_TestYOLOXNoPipelineDataset', tag=1))
    cfg = Config(dict(train_dataloader=loader_cfg))
    loader = DataLoader(_NoPipelineDataset(tag=1), batch_size=2)
    runner = _fake_runner(loader, max_epochs=2, cfg=cfg)
    hook = YOLOXModeSwitchHook(
        num_last_epochs=1, new_train_pipeline=[dict(type='unused')])
    from mmengine.runner import Runner
    original = Runner.build_dataloader
    built = {}

    def build_dataloader(cfg, seed=None, **kwargs):
        # the toy dataset takes its "pipeline" as the constructor argument
        built['pipeline'] = cfg['dataset'].pop('pipeline')
        built['seed'] = seed
        cfg['dataset']['tag'] = 2
        return original(cfg, seed=seed, **kwargs)

    monkeypatch.setattr(Runner, 'build_dataloader',
                        staticmethod(build_dataloader))
    hook.before_train_epoch(runner)
    assert built == dict(pipeline=[dict(type='unused')], seed=0)
    assert runner.train_loop.dataloader is not loader
    assert _tags(runner.train_loop.dataloader) == [2]
    assert runner.model.bbox_head.use_bbox_aux is True
    # the runner config itself is left unchanged
    assert 'pipeline' not in cfg.train_dataloader.dataset


class _ToyModel(BaseModel):
    """Records, per training step, the pipeline tag of the batch and
    whether the L1 loss was on."""

    def __init__(self):
        super().__init__()
        self.bbox_head = _Head()
        self.weight = nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, inputs=None, data_samples=None, mode='tensor', **kw):
        tags = kw['tag'] if 'tag' in kw else inputs
        self.seen.append(
            (sorted({int(t)
                     for t in tags}), self.bbox_head.use_bbox_aux))
        return dict(loss=(self.weight - 1).pow(2).sum())


def test_training_run_with_persistent_workers(tmp_path):
    from mmengine.runner import Runner
    model = _ToyModel()
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=_ToyDataset(size=4),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=1,
            persistent_workers=True,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=4),
        custom_hooks=[
            dict(
                type='YOLOXModeSwitchHook',
                num_last_epochs=2,
                new_train_pipeline=NEW_PIPELINE,
                priority=48)
        ],
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='yolokit',
        log_level='WARNING')
    runner.train()
    # 4 epochs x 2 iterations; switched before the 2nd epoch (epoch index 1)
    assert [tags for tags, _ in model.seen] == [[1]] * 2 + [[2]] * 6
    assert [aux for _, aux in model.seen] == [False] * 2 + [True] * 6
