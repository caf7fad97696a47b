"""Tests of BatchShapePolicy against the algorithm of spec 02 §1.6.

Every expected shape below is ``ceil(rel * img_size / size_divisor +
extra_pad_ratio) * size_divisor`` worked out by hand, with ``rel`` the
relative (h, w) of the batch: ``(max_ratio, 1)`` if all h/w < 1,
``(1, 1 / min_ratio)`` if all h/w > 1, else ``(1, 1)``.
"""
import numpy as np
import pytest

from yolokit.datasets import BatchShapePolicy, batch_shape_policy
from yolokit.registry import TASK_UTILS


def _infos(sizes):
    return [dict(width=w, height=h, idx=i) for i, (w, h) in enumerate(sizes)]


def test_upstream_vector_landscape_batches():
    # Width 100, heights 20, 11, 21, 30, 10 -> h/w .2 .11 .21 .3 .1.
    # Sorted: 10, 11 | 20, 21 | 30 (batch_size 2).
    # Batch 0: max .11 -> ceil(.11*640/32 + .5) = ceil(2.7) = 3 -> 96;
    #          width ceil(1*640/32 + .5) = 21 -> 672.
    # Batch 1: max .21 -> ceil(4.2 + .5) = 5 -> 160.
    # Batch 2: max .30 -> ceil(6.0 + .5) = 7 -> 224.
    infos = _infos([(100, 20), (100, 11), (100, 21), (100, 30), (100, 10)])
    out = BatchShapePolicy(batch_size=2)(infos)
    assert [d['height'] for d in out] == [10, 11, 20, 21, 30]
    expected = [[96, 672], [96, 672], [160, 672], [160, 672], [224, 672]]
    assert [d['batch_shape'].tolist() for d in out] == expected
    for d in out:
        assert d['batch_shape'].dtype == np.int64


def test_portrait_and_mixed_batches():
    # Batch 0: h/w 2 and 3 -> all > 1 -> rel (1, 1/2):
    #   h = ceil(20 + .5) * 32 = 672, w = ceil(10 + .5) * 32 = 352.
    # Batch 1: h/w .5 and 1.5 -> mixed -> rel (1, 1) -> 672 x 672.
    infos = _infos([(10, 20), (10, 30), (20, 10), (20, 30)])
    out = BatchShapePolicy(batch_size=2)(infos)
    assert [d['idx'] for d in out] == [2, 3, 0, 1]
    # sorted ratios: .5 (idx 2), 1.5 (idx 3), 2 (idx 0), 3 (idx 1)
    assert [d['batch_shape'].tolist()
            for d in out] == [[672, 672]] * 2 + [[672, 352]] * 2


def test_p6_parameters():
    # img_size 1280, size_divisor 64, all h/w = .5:
    #   h = ceil(.5*1280/64 + .5) * 64 = ceil(10.5) * 64 = 704,
    #   w = ceil(20 + .5) * 64 = 1344.
    infos = _infos([(200, 100), (400, 200)])
    out = BatchShapePolicy(
        batch_size=32, img_size=1280, size_divisor=64)(
            infos)
    assert [d['batch_shape'].tolist() for d in out] == [[704, 1344]] * 2


def test_extra_pad_ratio_zero_gives_tight_shapes():
    # h/w = .5 exactly: ceil(.5*640/32 + 0) * 32 = 320, w = 640.
    out = BatchShapePolicy(extra_pad_ratio=0.0)(_infos([(640, 320)]))
    assert out[0]['batch_shape'].tolist() == [320, 640]


def test_batch_size_is_multiplied_by_world_size(monkeypatch):
    monkeypatch.setattr(batch_shape_policy, 'get_dist_info', lambda: (0, 4))
    policy = BatchShapePolicy(batch_size=2)
    assert policy.batch_size == 8
    # All five images of the upstream vector now share one batch: max .3.
    infos = _infos([(100, 20), (100, 11), (100, 21), (100, 30), (100, 10)])
    out = policy(infos)
    assert [d['batch_shape'].tolist() for d in out] == [[224, 672]] * 5


def test_registered_and_validates_input():
    policy = TASK_UTILS.build(dict(type='BatchShapePolicy', batch_size=1))
    assert isinstance(policy, BatchShapePolicy)
    assert policy([]) == []
    with pytest.raises(KeyError, match='width'):
        policy([dict(height=3)])
    with pytest.raises(ValueError, match='batch_size'):
        BatchShapePolicy(batch_size=0)
