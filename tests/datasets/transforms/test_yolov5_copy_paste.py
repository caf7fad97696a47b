"""Tests of YOLOv5CopyPaste (spec 05 §5.16)."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from yolokit.datasets.transforms.yolov5_copy_paste import YOLOv5CopyPaste


def _square(x1, y1, x2, y2):
    return [np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)]


def _results(boxes, h=300, w=400):
    img = np.zeros((h, w, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:
        img[y1:y2, x1:x2] = 255
    n = len(boxes)
    return {
        'img': img,
        'gt_bboxes': np.array(boxes, dtype=np.float32).reshape(-1, 4),
        'gt_bboxes_labels': np.arange(n, dtype=np.int64) + 1,
        'gt_ignore_flags': np.array([False, True, False][:n]),
        'gt_masks': PolygonMasks([_square(*b) for b in boxes], h, w),
    }


def test_bbox_ioa_by_hand():
    b1 = HorizontalBoxes(
        torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]]))
    b2 = HorizontalBoxes(
        torch.tensor([[5., 5., 15., 25.], [0., 0., 10., 10.]]))
    ioa = YOLOv5CopyPaste.bbox_ioa(b1, b2)
    # [0,0,10,10] vs [5,5,15,25]: intersection 5 x 5 = 25, box2 area 200
    # [0,0,10,10] vs itself: 100 / (100 + 1e-7)
    # [20,20,30,30] vs [5,5,15,25]: no x overlap -> 0; vs [0,0,10,10]: 0
    expected = np.array([[25 / (200 + 1e-7), 100 / (100 + 1e-7)], [0, 0]])
    assert isinstance(ioa, np.ndarray) and ioa.shape == (2, 2)
    np.testing.assert_allclose(ioa, expected, rtol=1e-6)
    # eps only guards an empty box2
    ioa = YOLOv5CopyPaste.bbox_ioa(
        b1, HorizontalBoxes(torch.tensor([[3., 3., 3., 8.]])), eps=0.5)
    np.testing.assert_allclose(ioa, [[0.], [0.]])


def test_corner_object_is_mirrored():
    # the spec's case: one 10 x 10 object in the corner of a 300 x 400
    # image with prob=1 gives 2 boxes and 2 masks
    res = _results([(0, 0, 10, 10)])
    out = YOLOv5CopyPaste(prob=1.0)(res)
    np.testing.assert_allclose(out['gt_bboxes'],
                               [[0, 0, 10, 10], [390, 0, 400, 10]])
    assert out['gt_bboxes'].dtype == np.float32
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [1, 1])
    np.testing.assert_array_equal(out['gt_ignore_flags'], [False, False])
    masks = out['gt_masks']
    assert isinstance(masks, PolygonMasks) and len(masks) == 2
    np.testing.assert_allclose(masks.masks[1][0],
                               [400, 0, 390, 0, 390, 10, 400, 10])
    # the object's pixels appear at the mirrored place, nothing else moves
    img = out['img']
    assert (img[0:10, 390:400] == 255).all()
    assert (img[0:10, 0:10] == 255).all()
    assert img[10:].max() == 0 and img[:, 10:390].max() == 0


def test_symmetric_objects_are_not_candidates():
    # each one's mirror covers the other: IoA 1 >= 0.3, nothing is pasted;
    # the centred object overlaps its own mirror
    res = _results([(0, 0, 10, 10), (390, 0, 400, 10), (195, 50, 205, 60)])
    img = res['img'].copy()
    out = YOLOv5CopyPaste(prob=1.0)(res)
    assert len(out['gt_bboxes']) == 3 and len(out['gt_masks']) == 3
    np.testing.assert_array_equal(out['img'], img)


def test_ioa_thresh():
    # the mirror of [150, 0, 190, 40] is [210, 0, 250, 40]; against the
    # object [200, 0, 240, 40] (area 1600) the overlap is 30 x 40 = 1200:
    # IoA 0.75
    boxes = [(150, 0, 190, 40), (200, 0, 240, 40)]
    out = YOLOv5CopyPaste(ioa_thresh=0.7, prob=1.0)(_results(boxes))
    assert len(out['gt_bboxes']) == 2  # 0.75 >= 0.7: no candidate
    out = YOLOv5CopyPaste(ioa_thresh=0.8, prob=1.0)(_results(boxes))
    # the mirror of [200, 0, 240, 40] is [160, 0, 200, 40]: IoA with
    # [150, 0, 190, 40] is 30 x 40 / 1600 = 0.75 < 0.8 too; both copied
    assert len(out['gt_bboxes']) == 4


def test_round_half_to_even_count():
    # 3 candidates (all on the left half, mirrors free), prob 0.5:
    # round(1.5) = 2 copies; 1 candidate at 0.5: round(0.5) = 0 copies
    boxes = [(0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10)]
    np.random.seed(0)
    out = YOLOv5CopyPaste(prob=0.5)(_results(boxes))
    assert len(out['gt_bboxes']) == 5
    copies = out['gt_bboxes'][3:]
    # each copy is the mirror of a distinct original
    originals = {tuple(400 - np.array([b[2], b[0]])) for b in boxes}
    got = {(c[0], c[2]) for c in copies}
    assert len(got) == 2 and got <= originals
    out = YOLOv5CopyPaste(prob=0.5)(_results([(0, 0, 10, 10)]))
    assert len(out['gt_bboxes']) == 1


def test_without_masks_nothing_changes():
    res = _results([(0, 0, 10, 10)])
    del res['gt_masks']
    out = YOLOv5CopyPaste(prob=1.0)(res)
    assert len(out['gt_bboxes']) == 1
    res = _results([])
    out = YOLOv5CopyPaste(prob=1.0)(res)
    assert len(out['gt_bboxes']) == 0


def test_bitmap_masks_fail():
    res = _results([(0, 0, 10, 10)])
    res['gt_masks'] = BitmapMasks(np.zeros((1, 300, 400), np.uint8), 300, 400)
    with pytest.raises(AssertionError, match='PolygonMasks'):
        YOLOv5CopyPaste(prob=1.0)(res)


def test_horizontal_boxes_in_and_out():
    res = _results([(0, 0, 10, 10)])
    res['gt_bboxes'] = HorizontalBoxes(res['gt_bboxes'])
    out = YOLOv5CopyPaste(prob=1.0)(res)
    assert isinstance(out['gt_bboxes'], HorizontalBoxes)
    assert out['gt_bboxes'].tensor.dtype == torch.float32
    assert len(out['gt_bboxes']) == 2
