"""Tests of the shared mixing machinery (spec 05 §5.4 "Shared mixed-image
base", 02 §3.1 cache logic)."""
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from yolokit.datasets.transforms.base_mix_image_transform import (
    BaseMixImageTransform, check_img_scale)
from yolokit.datasets.transforms.errors import (TransformArgumentError,
                                                check_ratio_range)
from yolokit.datasets.transforms.mix_image_ops import paste_region
from yolokit.datasets.transforms.mosaic import Mosaic
from yolokit.datasets.transforms.mosaic9 import Mosaic9
from yolokit.datasets.transforms.yolov5_mixup import YOLOv5MixUp
from yolokit.datasets.transforms.yolox_mixup import YOLOXMixUp


class RecordingMix(BaseMixImageTransform):
    """Mixes nothing; records what the base class handed over."""

    def __init__(self, num_indexes=1, **kwargs):
        super().__init__(**kwargs)
        self.num_indexes = num_indexes
        self.seen = []

    def get_indexes(self, dataset):
        if self.num_indexes == 1:
            return np.random.randint(0, len(dataset))  # a lone int
        return [
            np.random.randint(0, len(dataset)) for _ in range(self.num_indexes)
        ]

    def mix_img_transform(self, results):
        self.seen.append(results['mix_results'])
        results['mixed_with'] = [r['id'] for r in results['mix_results']]
        return results


class FakeDataset:

    def __init__(self, n=6):
        self.n = n
        self.calls = []

    def __len__(self):
        return self.n

    def get_data_info(self, idx):
        self.calls.append(int(idx))
        return {
            'id': int(idx),
            'img': np.full((8, 8, 3), idx, dtype=np.uint8),
            'gt_bboxes': np.array([[0, 0, 2, 2]], dtype=np.float32),
        }


def _results(i=0, dataset=None):
    res = {
        'id': i,
        'img': np.zeros((8, 8, 3), dtype=np.uint8),
        'gt_bboxes': np.array([[1, 1, 3, 3]], dtype=np.float32),
    }
    if dataset is not None:
        res['dataset'] = dataset
    return res


def test_prob_zero_returns_input_untouched():
    t = RecordingMix(prob=0.0)
    ds = FakeDataset()
    res = _results(dataset=ds)
    out = t(res)
    assert out is res and out['dataset'] is ds and 'mixed_with' not in out
    assert ds.calls == [] and t.seen == []


def test_loads_partners_through_dataset_and_pre_transform():
    ds = FakeDataset()
    received = []

    def pre(data):
        received.append(data.get('dataset'))
        data['pre_done'] = True
        return data

    t = RecordingMix(num_indexes=3, pre_transform=[pre])
    out = t(_results(dataset=ds))
    assert len(ds.calls) == 3 and all(0 <= i < len(ds) for i in ds.calls)
    assert out['mixed_with'] == ds.calls
    # the pre_transform sees the dataset (a nested Mosaic needs it), the
    # partner results do not keep it
    assert received == [ds, ds, ds]
    for r in t.seen[-1]:
        assert r['pre_done'] and 'dataset' not in r
        # numpy boxes from a box_type=None loader become HorizontalBoxes
        assert isinstance(r['gt_bboxes'], HorizontalBoxes)
    # mix_results never leaks; the dataset is handed on for later mixers
    assert 'mix_results' not in out and out['dataset'] is ds
    # numpy in -> numpy float32 out (autocast_box_type)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32


def test_pre_transform_built_from_config():
    # a config dict is built with yolokit's registry (here mmcv's
    # RandomFlip with prob 0, resolved through the parent registries)
    t = RecordingMix(pre_transform=[dict(type='RandomFlip', prob=0.0)])
    out = t(_results(dataset=FakeDataset()))
    assert 'flip' in t.seen[-1][0] and t.seen[-1][0]['flip'] is False
    assert 'mixed_with' in out


def test_missing_dataset_without_cache_fails_clearly():
    with pytest.raises(AssertionError, match="results\\['dataset'\\]"):
        RecordingMix()(_results())


def test_refetch_then_runtime_error():
    calls = []

    def always_none(data):
        calls.append(1)
        return None

    t = RecordingMix(pre_transform=[always_none], max_refetch=3)
    with pytest.raises(RuntimeError, match='always return None'):
        t(_results(dataset=FakeDataset()))
    assert len(calls) == 3  # one partner per try, 3 tries


def test_refetch_succeeds_after_a_none():
    answers = iter([None, 'ok'])

    def flaky(data):
        return None if next(answers) is None else data

    t = RecordingMix(pre_transform=[flaky], max_refetch=3)
    out = t(_results(dataset=FakeDataset()))
    assert len(out['mixed_with']) == 1


def test_cache_no_mixing_until_more_than_4_entries():
    t = RecordingMix(use_cached=True, max_cached_images=10)
    for i in range(4):
        out = t(_results(i))
        assert 'mixed_with' not in out
        assert len(t.results_cache) == i + 1
    out = t(_results(4))
    assert 'mixed_with' in out and len(t.results_cache) == 5
    assert set(out['mixed_with']) <= {0, 1, 2, 3, 4}


def test_cache_fifo_pop_respects_max_cached_images():
    t = RecordingMix(use_cached=True, max_cached_images=5, random_pop=False)
    for i in range(9):
        t(_results(i))
        assert len(t.results_cache) == min(i + 1, 5)
        # FIFO: the cache holds the 5 most recent results, oldest first
        assert [r['id']
                for r in t.results_cache] == list(range(max(0, i - 4), i + 1))


def test_cache_random_pop_keeps_size_and_newest():
    np.random.seed(0)
    t = RecordingMix(use_cached=True, max_cached_images=5, random_pop=True)
    for i in range(30):
        t(_results(i))
        assert len(t.results_cache) == min(i + 1, 5)
        # the entry just added is never the one popped
        assert t.results_cache[-1]['id'] == i
    # random popping keeps some old entries a FIFO would have dropped
    ids = [r['id'] for r in t.results_cache]
    assert ids != list(range(25, 30))


def test_cache_stores_copies_without_dataset():
    ds = FakeDataset()
    t = RecordingMix(use_cached=True, max_cached_images=5)
    res = _results(0, dataset=ds)
    out = t(res)
    assert 'dataset' not in t.results_cache[0]
    assert t.results_cache[0]['img'] is not res['img']
    assert out['dataset'] is ds and ds.calls == []


@pytest.mark.parametrize('cls,minimum', [(Mosaic, 4), (Mosaic9, 9),
                                         (YOLOv5MixUp, 2), (YOLOXMixUp, 2)])
def test_min_cache_size(cls, minimum):
    cls(use_cached=True, max_cached_images=minimum)
    with pytest.raises(AssertionError, match=f'>= {minimum}'):
        cls(use_cached=True, max_cached_images=minimum - 1)
    cls(use_cached=False, max_cached_images=minimum - 1)  # unused: fine


@pytest.mark.parametrize('prob', [-0.1, 1.5])
def test_prob_must_be_a_probability(prob):
    with pytest.raises(AssertionError, match='probability'):
        Mosaic(prob=prob)


def test_check_img_scale():
    assert check_img_scale((64, 32)) == (64, 32)
    assert check_img_scale([64, 32]) == (64, 32)
    assert check_img_scale((64.0, 32.0)) == (64, 32)
    for bad in (640, (640, ), (0, 10), (1.5, 2), (True, 3), '64'):
        with pytest.raises(AssertionError, match='img_scale'):
            check_img_scale(bad)


def test_paste_region_by_hand():
    # a 10x6 tile whose corner is at (-3, 4) on a 20x8 canvas: x 0..7 and
    # y 4..8 are visible, i.e. tile columns 3..10 and rows 0..4
    assert paste_region((-3, 4), (10, 6),
                        (20, 8)) == ((0, 4, 7, 8), (3, 0, 10, 4))
    # fully outside: empty region
    (x1, y1, x2, y2), _ = paste_region((25, 0), (10, 6), (20, 8))
    assert x2 - x1 == 0


@pytest.mark.parametrize('cls,num', [(Mosaic, 3), (Mosaic9, 8),
                                     (YOLOv5MixUp, 1), (YOLOXMixUp, 1)])
def test_get_indexes_draws_num_mix_results(cls, num, monkeypatch):
    calls = []

    def randint(low, high):
        calls.append((low, high))
        return 100 + len(calls)

    monkeypatch.setattr(np.random, 'randint', randint)
    indexes = cls().get_indexes(list(range(7)))
    # one uniform draw in [0, 7) per image to mix in; a MixUp gets an int
    assert calls == [(0, 7)] * num
    assert indexes == (101 if num == 1 else list(range(101, 101 + num)))


def test_check_ratio_range():
    check_ratio_range((0, 1), 'r', allow_zero=True)
    check_ratio_range([0.5, 0.5], 'r', allow_zero=False)
    for bad, allow_zero in [((0, 1), False), ((-1, 1), True), ((2, 1), True),
                            ((1, ), True), (('a', 1), True), (1.0, True)]:
        with pytest.raises(TransformArgumentError, match='r must be'):
            check_ratio_range(bad, 'r', allow_zero=allow_zero)
