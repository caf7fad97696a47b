"""PPYOLOERandomCrop: the crop rules of spec 05 §5.6 by hand, then seeded
runs against MMYOLO 0.6.0's transform.

The hand case: a 100 x 100 image, scaling and aspect ratio pinned so the
window is 50 x 50, and the offset pinned (``np.random.randint`` patched)
to x1 = 20, y1 = 10, i.e. the window [20, 10, 70, 60]. Boxes:

====  ================  ============  ==================================
name  box               centre        rule
====  ================  ============  ==================================
A     [10, 10, 30, 30]  (20, 20)      inside (x1 <= 20): kept, clipped
B     [40, 40, 90, 90]  (65, 65)      65 >= y2 = 60: dropped
E     [50, 30, 80, 50]  (65, 40)      inside: kept, clipped on the right
F     [0, 0, 10, 10]    (5, 5)        outside: dropped
====  ================  ============  ==================================

IoU with the window (area 2500): A 200 / (400 + 2500 - 200) = 2 / 27,
B 600 / 4400 = 3 / 22, E 400 / 2700 = 4 / 27, F 0.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.registry import Registry

from yolokit.datasets.transforms import PPYOLOERandomCrop
from yolokit.datasets.transforms.ppyoloe_random_crop import (centre_kept_inds,
                                                             window_overlaps)
from yolokit.registry import TRANSFORMS

BOXES = np.array(
    [[10, 10, 30, 30], [40, 40, 90, 90], [50, 30, 80, 50], [0, 0, 10, 10]],
    dtype=np.float32)
WINDOW = np.array([20, 10, 70, 60], dtype=np.float32)
PINNED = dict(scaling=[.5, .5], aspect_ratio=[1., 1.], allow_no_crop=False)


def _coord_img(h=100, w=100):
    """Pixel (y, x) holds (y, x, 0), so a crop shows where it came from."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([ys, xs, np.zeros_like(ys)], -1).astype(np.uint8)


def _results(boxes=BOXES, with_masks=False):
    results = dict(
        img=_coord_img(),
        img_shape=(100, 100),
        gt_bboxes=HorizontalBoxes(torch.from_numpy(boxes.copy())),
        gt_bboxes_labels=np.arange(len(boxes), dtype=np.int64),
        gt_ignore_flags=np.array([False, True, False, True])[:len(boxes)])
    if with_masks:
        masks = np.zeros((len(boxes), 100, 100), dtype=np.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
            masks[i, y1:y2, x1:x2] = i + 1  # mask i is filled with i + 1
        results['gt_masks'] = BitmapMasks(masks, 100, 100)
    return results


@pytest.fixture
def offset_20_10(monkeypatch):
    """np.random.randint gives the y offset 10, then the x offset 20."""
    offsets = iter([10, 20] * 100)
    monkeypatch.setattr(np.random, 'randint', lambda low, high: next(offsets))


def test_window_overlaps_by_hand():
    ious = window_overlaps(BOXES, WINDOW)
    np.testing.assert_allclose(ious, [2 / 27, 3 / 22, 4 / 27, 0], rtol=1e-6)


def test_centre_rule_by_hand():
    assert centre_kept_inds(BOXES, WINDOW).tolist() == [0, 2]
    # centre exactly on x2 or y2 is outside, on x1 / y1 inside
    edge = np.array([[60., 10., 80., 20.], [10., 0., 30., 20.]])
    assert centre_kept_inds(edge, WINDOW).tolist() == [1]


def test_hand_case_crop(offset_20_10):
    crop = PPYOLOERandomCrop(thresholds=[0.], **PINNED)
    out = crop(_results(with_masks=True))
    assert out['img'].shape == (50, 50, 3)
    assert out['img_shape'] == (50, 50)
    assert out['img'][0, 0].tolist() == [10, 20, 0]  # pixel (y=10, x=20)
    # A: [10, 10, 30, 30] - (20, 10) = [-10, 0, 10, 20] -> clip [0, 0, 10, 20]
    # E: [50, 30, 80, 50] - (20, 10) = [30, 20, 60, 40] -> [30, 20, 50, 40]
    assert out['gt_bboxes'].tensor.tolist() == [[0, 0, 10, 20],
                                                [30, 20, 50, 40]]
    assert out['gt_bboxes_labels'].tolist() == [0, 2]
    assert out['gt_ignore_flags'].tolist() == [False, False]
    # the masks of A and E (values 1 and 3), cut to the window
    masks = out['gt_masks'].masks
    assert masks.shape == (2, 50, 50)
    assert set(np.unique(masks[0])) == {0, 1}
    assert set(np.unique(masks[1])) == {0, 3}
    assert masks[0].sum() == 10 * 20 * 1 and masks[1].sum() == 20 * 20 * 3


def test_threshold_rejects_every_window(offset_20_10):
    # the best IoU is 4/27 = 0.148 < 0.2: all attempts fail, no crop
    crop = PPYOLOERandomCrop(thresholds=[0.2], num_attempts=5, **PINNED)
    out = crop(_results())
    assert out['img'].shape == (100, 100, 3)
    np.testing.assert_array_equal(out['gt_bboxes'].tensor.numpy(), BOXES)


def test_cover_all_box_needs_every_box(offset_20_10):
    # max IoU 0.148 >= 0.1, but F's IoU is 0 < 0.1
    assert PPYOLOERandomCrop(
        thresholds=[0.1], **PINNED)(_results())['img'].shape == (50, 50, 3)
    out = PPYOLOERandomCrop(
        thresholds=[0.1], cover_all_box=True, num_attempts=3, **PINNED)(
            _results())
    assert out['img'].shape == (100, 100, 3)
    # without F, B (3/22 = 0.136) and E (0.148) pass, but A (2/27 = 0.074)
    # does not
    out = PPYOLOERandomCrop(
        thresholds=[0.07], cover_all_box=True, **PINNED)(
            _results(BOXES[:3]))
    assert out['img'].shape == (50, 50, 3)


def test_no_crop_candidate_and_empty_gt():
    crop = PPYOLOERandomCrop(thresholds=[], allow_no_crop=True)
    results = _results()
    out = crop(copy.deepcopy(results))
    np.testing.assert_array_equal(out['img'], results['img'])
    assert len(out['gt_bboxes']) == 4
    empty = dict(
        img=_coord_img(), gt_bboxes=HorizontalBoxes(torch.zeros(0, 4)))
    assert PPYOLOERandomCrop()(empty)['img'].shape == (100, 100, 3)
    assert PPYOLOERandomCrop()(dict(img=_coord_img()))['img'].shape == (100,
                                                                        100, 3)


def test_numpy_boxes_in_numpy_float32_out(offset_20_10):
    results = _results()
    results['gt_bboxes'] = BOXES.copy()
    out = PPYOLOERandomCrop(thresholds=[0.], **PINNED)(results)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32
    assert out['gt_bboxes'].tolist() == [[0, 0, 10, 20], [30, 20, 50, 40]]


@pytest.mark.parametrize('aspect_ratio', [[.5, 2.], None])
def test_random_crops_keep_boxes_inside(aspect_ratio):
    rng = np.random.RandomState(0)
    crop = TRANSFORMS.build(
        dict(type='PPYOLOERandomCrop', aspect_ratio=aspect_ratio))
    cropped = 0
    for seed in range(40):
        np.random.seed(seed)
        xy = rng.uniform(0, 80, (6, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(2, 40, (6, 2))], 1)
        boxes = boxes.clip(0, 100).astype(np.float32)
        results = _results(boxes[:4])
        out = crop(results)
        h, w = out['img'].shape[:2]
        b = out['gt_bboxes'].tensor.numpy()
        assert len(b) == len(out['gt_bboxes_labels']) >= 1
        assert (b[:, :2] >= 0).all() and (b[:, 2] <= w).all() and \
            (b[:, 3] <= h).all() and (b[:, :2] < b[:, 2:]).all()
        if (h, w) != (100, 100):
            cropped += 1
            # the crop came from the offset read off the top-left pixel
            y0, x0 = out['img'][0, 0, :2].astype(int)
            src = boxes[:4][out['gt_bboxes_labels']]
            expect = (src - [x0, y0, x0, y0]).clip(0, [w, h, w, h])
            np.testing.assert_allclose(b, expect, atol=1e-5)
            if aspect_ratio is None:  # sides drawn apart from [0.3, 1]
                assert 0.5 <= h / w <= 2 and min(h, w) >= 30
            else:  # side = 100 s / sqrt(r) >= 100 * 0.3 / sqrt(2) = 21.2
                assert min(h, w) >= 21
    assert cropped > 10


@pytest.mark.parametrize('bad, match', [
    (dict(scaling=[0., 1.]), 'scaling'),
    (dict(aspect_ratio=[2., .5]), 'aspect_ratio'),
    (dict(thresholds=0.5), 'thresholds'),
    (dict(num_attempts=0), 'num_attempts'),
])
def test_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        PPYOLOERandomCrop(**bad)


@pytest.fixture(scope='module')
def mmyolo_crop_cls(mmyolo_reference):
    """MMYOLO 0.6.0's ``PPYOLOERandomCrop``.

    ``import mmyolo.datasets`` fails next to yolokit (both register a
    ``yolov5_collate`` function in MMEngine's shared registry), so the
    transforms file is executed on its own, its two package-relative
    imports pointed at a private registry and its keypoint structure file.
    """
    folder = osp.join(
        osp.dirname(mmyolo_reference.package.__file__), 'datasets',
        'transforms')
    keypoints_ns: dict = {}
    with open(osp.join(folder, 'keypoint_structure.py')) as f:
        exec(compile(f.read(), 'keypoint_structure.py', 'exec'), keypoints_ns)
    with open(osp.join(folder, 'transforms.py')) as f:
        source = f.read()
    for line in ('from mmyolo.registry import TRANSFORMS',
                 'from .keypoint_structure import Keypoints'):
        assert line in source, f'{line!r} not in MMYOLO transforms.py'
        source = source.replace(line, '')
    namespace = dict(
        TRANSFORMS=Registry('mmyolo_reference_transforms'),
        Keypoints=keypoints_ns['Keypoints'],
        __name__='mmyolo_reference_transforms')
    exec(compile(source, osp.join(folder, 'transforms.py'), 'exec'), namespace)
    return namespace['PPYOLOERandomCrop']


@pytest.mark.parametrize('kwargs', [{},
                                    dict(aspect_ratio=None),
                                    dict(cover_all_box=True),
                                    dict(allow_no_crop=False)])
def test_seeded_runs_match_mmyolo(mmyolo_crop_cls, kwargs):
    ours, theirs = PPYOLOERandomCrop(**kwargs), mmyolo_crop_cls(**kwargs)
    rng = np.random.RandomState(1)
    cropped = 0
    for seed in range(25):
        xy = rng.uniform(0, 80, (5, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(2, 40, (5, 2))], 1)
        boxes = boxes.clip(0, 100).astype(np.float32)
        np.random.seed(seed)
        out = ours(_results(boxes[:4]))
        np.random.seed(seed)
        ref = theirs.transform(_results(boxes[:4]))
        np.testing.assert_array_equal(out['img'], ref['img'])
        assert out['img_shape'] == tuple(ref['img'].shape[:2])
        np.testing.assert_array_equal(out['gt_bboxes'].tensor.numpy(),
                                      ref['gt_bboxes'].tensor.numpy())
        np.testing.assert_array_equal(out['gt_bboxes_labels'],
                                      ref['gt_bboxes_labels'])
        np.testing.assert_array_equal(out['gt_ignore_flags'],
                                      ref['gt_ignore_flags'])
        # the same draws were used: the global stream ends in one place
        np.random.seed(seed)
        ours(_results(boxes[:4]))
        after_ours = np.random.rand()
        np.random.seed(seed)
        theirs.transform(_results(boxes[:4]))
        assert np.random.rand() == after_ours
        cropped += out['img'].shape[:2] != (100, 100)
    assert cropped > 5
