"""Config changes of the tools' flags (--amp, --resume, --tta)."""
import pytest
from mmengine.config import Config, ConfigDict

from yolokit.utils.errors import MissingConfigKeyError
from yolokit.utils.tool_overrides import (RESUME_LATEST,
                                          FlagNotApplicableError,
                                          amp_overrides, apply_overrides,
                                          innermost_dataset, resume_overrides,
                                          tta_overrides)


def test_amp_overrides():
    assert amp_overrides(dict(type='OptimWrapper'), True) == {
        'optim_wrapper.type': 'AmpOptimWrapper',
        'optim_wrapper.loss_scale': 'dynamic'
    }
    # no type: MMEngine's default wrapper is OptimWrapper
    assert amp_overrides({}, True)['optim_wrapper.type'] == 'AmpOptimWrapper'
    assert amp_overrides(dict(type='AmpOptimWrapper'), True) == {}


def test_amp_errors_are_assertion_errors_as_in_mmyolo():
    with pytest.raises(AssertionError, match='--amp needs a GPU'):
        amp_overrides(dict(type='OptimWrapper'), False)
    with pytest.raises(
            FlagNotApplicableError, match="uses 'ApexOptimWrapper'"):
        amp_overrides(dict(type='ApexOptimWrapper'), True)


@pytest.mark.parametrize('resume, expected', [
    (None, {}),
    (RESUME_LATEST, dict(resume=True, load_from=None)),
    ('w/epoch_3.pth', dict(resume=True, load_from='w/epoch_3.pth')),
])
def test_resume_overrides(resume, expected):
    assert resume_overrides(resume) == expected


def _tta_cfg(dataset):
    return Config(
        dict(
            model=dict(type='YOLODetector', backbone=dict(type='B')),
            tta_model=dict(type='mmdet.DetTTAModel', tta_cfg=dict(x=1)),
            tta_pipeline=[dict(type='TTA')],
            test_dataloader=dict(dataset=dataset)))


def test_innermost_dataset():
    inner = dict(type='Coco')
    nested = dict(type='Repeat', dataset=dict(type='Concat', dataset=inner))
    key, found = innermost_dataset(nested)
    assert key == 'test_dataloader.dataset.dataset.dataset'
    assert found is inner
    assert innermost_dataset(inner) == ('test_dataloader.dataset', inner)


def test_tta_overrides_for_a_wrapped_dataset_with_batch_shapes():
    cfg = _tta_cfg(
        dict(
            type='RepeatDataset',
            dataset=dict(
                type='YOLOv5CocoDataset',
                pipeline=[dict(type='Plain')],
                batch_shapes_cfg=dict(type='BatchShapePolicy'))))
    overrides = tta_overrides(cfg, 'c.py')
    assert set(overrides) == {
        'model', 'test_dataloader.dataset.dataset.pipeline',
        'test_dataloader.dataset.dataset.batch_shapes_cfg'
    }
    assert overrides['model'] == dict(
        type='mmdet.DetTTAModel',
        tta_cfg=dict(x=1),
        module=dict(type='YOLODetector', backbone=dict(type='B')))
    assert overrides['test_dataloader.dataset.dataset.pipeline'] == [
        dict(type='TTA')
    ]
    assert overrides['test_dataloader.dataset.dataset.batch_shapes_cfg'] is (
        None)
    # The config itself is not changed by computing the overrides.
    assert cfg.model.type == 'YOLODetector'

    apply_overrides(cfg, overrides)
    assert cfg.model.type == 'mmdet.DetTTAModel'
    assert 'backbone' not in cfg.model  # replaced, not merged
    inner = cfg.test_dataloader.dataset.dataset
    assert inner.pipeline == [dict(type='TTA')]
    assert inner.batch_shapes_cfg is None
    assert cfg.test_dataloader.dataset.type == 'RepeatDataset'


def test_tta_overrides_without_batch_shapes_leave_them_alone():
    overrides = tta_overrides(_tta_cfg(dict(type='D', pipeline=[])), 'c.py')
    assert set(overrides) == {'model', 'test_dataloader.dataset.pipeline'}


@pytest.mark.parametrize('drop', [('tta_model', ), ('tta_pipeline', ),
                                  ('tta_model', 'tta_pipeline')])
def test_tta_without_its_keys(drop):
    cfg = _tta_cfg(dict(type='D', pipeline=[]))
    for key in drop:
        cfg[key] = None  # as a derived config drops inherited ones
    with pytest.raises(MissingConfigKeyError) as info:
        tta_overrides(cfg, 'my/config.py')
    msg = str(info.value)
    assert 'my/config.py does not define ' + ' or '.join(f'`{k}`'
                                                         for k in drop) in msg
    assert 'det_p5_tta.py' in msg
    # KeyError for the demo's callers, AssertionError as MMYOLO's test.py
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, AssertionError)


def test_apply_overrides_sets_nested_keys():
    cfg = ConfigDict(a=dict(b=dict(c=1, d=2)), e=3)
    apply_overrides(cfg, {'a.b.c': 10, 'e': dict(f=1)})
    assert cfg == dict(a=dict(b=dict(c=10, d=2)), e=dict(f=1))
