"""Polygon2Mask (spec 05 section 5.9) on hand-drawn squares."""
import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from yolokit.datasets.transforms.polygon2mask import Polygon2Mask
from yolokit.registry import TRANSFORMS


def square(x1, y1, x2, y2):
    return [np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)]


def results_for(polygons, h=8, w=8):
    n = len(polygons)
    return dict(
        gt_masks=PolygonMasks(polygons, h, w),
        gt_bboxes=HorizontalBoxes(
            torch.arange(n * 4, dtype=torch.float32).view(n, 4)),
        gt_bboxes_labels=np.arange(n, dtype=np.int64),
        gt_ignore_flags=np.zeros(n, dtype=bool))


def test_registered_with_defaults():
    t = TRANSFORMS.build(dict(type='Polygon2Mask'))
    assert (t.downsample_ratio, t.mask_overlap, t.coco_style) == (4, True,
                                                                  False)
    assert repr(t) == ('Polygon2Mask(downsample_ratio=4, mask_overlap=True, '
                       'coco_style=False)')
    with pytest.raises(ValueError, match='downsample_ratio'):
        Polygon2Mask(downsample_ratio=0)


def test_polygon2mask_full_resolution_by_hand():
    # cv2.fillPoly fills the border pixels too: columns/rows 1..5.
    mask = Polygon2Mask(downsample_ratio=1).polygon2mask((8, 8),
                                                         square(1, 1, 5, 5))
    expected = np.zeros((8, 8), np.uint8)
    expected[1:6, 1:6] = 1
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, expected)
    mask = Polygon2Mask(downsample_ratio=1).polygon2mask((8, 8),
                                                         square(1, 1, 5, 5),
                                                         color=3)
    np.testing.assert_array_equal(mask, expected * 3)


def test_polygon2mask_downsampled_by_hand():
    # pixels 2..5 filled; halving averages the pairs (2,3) and (4,5)
    mask = Polygon2Mask(downsample_ratio=2).polygon2mask((8, 8),
                                                         square(2, 2, 5, 5))
    expected = np.zeros((4, 4), np.uint8)
    expected[1:3, 1:3] = 1
    np.testing.assert_array_equal(mask, expected)


def test_overlap_mask_small_objects_on_top():
    """B (small) is listed first, A (large) second. Drawn by descending
    area: A gets value 1, then B value 2 over it; boxes and labels follow
    the drawing order."""
    t = Polygon2Mask(downsample_ratio=1, mask_overlap=True)
    results = results_for([square(2, 2, 4, 4), square(0, 0, 7, 7)])
    boxes_before = results['gt_bboxes'].tensor.clone()
    out = t(results)
    assert 'gt_masks' not in out
    seg = out['gt_panoptic_seg']
    assert isinstance(seg, torch.Tensor) and seg.shape == (1, 8, 8)
    assert seg.dtype == torch.uint8
    expected = np.ones((8, 8), np.uint8)
    expected[2:5, 2:5] = 2
    np.testing.assert_array_equal(seg[0].numpy(), expected)
    assert out['gt_bboxes_labels'].tolist() == [1, 0]
    torch.testing.assert_close(out['gt_bboxes'].tensor, boxes_before[[1, 0]])
    assert out['gt_ignore_flags'].tolist() == [False, False]


def test_overlap_dtype_for_many_instances():
    t = Polygon2Mask(downsample_ratio=1)
    polygons = [
        square(i % 16, i // 16, i % 16 + 1, i // 16 + 1) for i in range(256)
    ]
    seg, order = t.polygons2masks_overlap((32, 32), polygons)
    assert seg.dtype == np.int32
    assert sorted(order.tolist()) == list(range(256))
    assert seg.max() == 256


def test_separate_masks():
    t = Polygon2Mask(downsample_ratio=2, mask_overlap=False)
    out = t(results_for([square(2, 2, 5, 5), square(0, 0, 1, 1)]))
    masks = out['gt_masks']
    assert isinstance(masks, torch.Tensor)
    assert masks.shape == (2, 4, 4) and masks.dtype == torch.uint8
    assert masks[0].sum() == 4 and masks[0, 1:3, 1:3].all()
    # boxes and labels keep their order
    assert out['gt_bboxes_labels'].tolist() == [0, 1]
    empty = t.polygons2masks((8, 8), [])
    assert empty.shape == (0, 4, 4)


def test_coco_style_matches_pycocotools():
    polygon = [np.array([1.5, 1.0, 6.2, 2.0, 5.0, 7.3, 0.7, 5.5])]
    mask = Polygon2Mask(
        downsample_ratio=1, coco_style=True).polygon2mask((8, 9), polygon)
    rle = mask_utils.merge(mask_utils.frPyObjects([polygon[0].tolist()], 8, 9))
    np.testing.assert_array_equal(mask, mask_utils.decode(rle))


def test_requires_polygon_masks():
    results = results_for([square(0, 0, 2, 2)])
    results['gt_masks'] = BitmapMasks(np.zeros((1, 8, 8), np.uint8), 8, 8)
    with pytest.raises(TypeError, match='PolygonMasks'):
        Polygon2Mask()(results)
