"""Tests of YOLOv5RandomAffine (spec 05 §5.20, 02 §1.1).

With rotation and shear fixed at 0 the warp is ``p -> s * (p - c) + t``
(``c`` the input centre, ``t`` the translation target), which the golden
values below are computed from by hand.
"""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from yolokit.datasets.transforms.yolov5_random_affine import \
    YOLOv5RandomAffine


def _affine(scale=1.0, **kwargs):
    """Rotation, shear and translation jitter off; a fixed scale."""
    return YOLOv5RandomAffine(
        max_rotate_degree=0.0,
        max_shear_degree=0.0,
        max_translate_ratio=0.0,
        scaling_ratio_range=(scale, scale),
        **kwargs)


def _results(boxes, shape=(64, 64, 3), value=50):
    n = len(boxes)
    return {
        'img': np.full(shape, value, dtype=np.uint8),
        'gt_bboxes': np.array(boxes, dtype=np.float32).reshape(-1, 4),
        'gt_bboxes_labels': np.arange(n, dtype=np.int64),
        'gt_ignore_flags': np.zeros(n, dtype=bool),
    }


def test_pure_scale_moves_boxes_as_the_matrix_says():
    # s = 0.5 around the centre (32, 32): 16 -> 24, 48 -> 40
    out = _affine(0.5)(_results([[16, 16, 48, 48]]))
    np.testing.assert_allclose(out['gt_bboxes'], [[24, 24, 40, 40]], atol=1e-4)
    img = out['img']
    assert img.shape == (64, 64, 3) and out['img_shape'] == (64, 64)
    # the image shrinks to [16, 48) x [16, 48); outside is border_val
    assert (img[18:46, 18:46] == 50).all()
    assert (img[:14] == 114).all() and (img[:, 50:] == 114).all()


def test_border_sets_output_size_and_moves_centre():
    # border (w, h) = (-16, -8): output (64 - 16, 64 - 32) = (48 h, 32 w);
    # the centre goes to (16, 24): x 16 -> 0.5 * (16 - 32) + 16 = 8
    out = _affine(0.5, border=(-16, -8))(_results([[16, 16, 48, 48]]))
    assert out['img'].shape == (48, 32, 3)
    np.testing.assert_allclose(out['gt_bboxes'], [[8, 16, 24, 32]], atol=1e-4)


def test_pure_translation(monkeypatch):
    # draws: rotation 0, scale 1, shear 0, 0, then translation targets
    # 0.625 * 64 = 40 and 0.375 * 64 = 24: a shift of (+8, -8)
    draws = iter([0.0, 1.0, 0.0, 0.0, 0.625, 0.375])
    monkeypatch.setattr(np.random, 'uniform', lambda *a, **k: next(draws))
    res = _results([[10, 20, 30, 40]])
    res['img'] = np.random.RandomState(0).randint(0, 256,
                                                  (64, 64, 3)).astype(np.uint8)
    src = res['img'].copy()
    out = YOLOv5RandomAffine(max_translate_ratio=0.2)(res)
    np.testing.assert_allclose(out['gt_bboxes'], [[18, 12, 38, 32]], atol=1e-4)
    np.testing.assert_array_equal(out['img'][0:56, 8:64], src[8:64, 0:56])
    assert (out['img'][:, :8] == 114).all()
    assert (out['img'][56:] == 114).all()


def test_each_filter_rule():
    boxes = [
        [10, 10, 30, 30],  # keeps
        [10, 10, 12, 30],  # w = 2, not > min_bbox_size 2
        [-100, 10, 10, 30],  # clipped to [0, 10, 10, 30]: area 200 / 2200
        # = 0.09 <= min_area_ratio 0.1
        [2, 10, 62, 12.9],  # w/h = 60 / 2.9 = 20.7 >= max_aspect_ratio 20
    ]
    out = _affine(1.0)(_results(boxes))
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [0])
    np.testing.assert_allclose(out['gt_bboxes'], [[10, 10, 30, 30]], atol=1e-4)
    # relaxing one rule keeps exactly the box that broke it
    for kwargs, kept in ((dict(min_bbox_size=1),
                          [0, 1]), (dict(min_area_ratio=0.05), [0, 2]),
                         (dict(max_aspect_ratio=25), [0, 3])):
        out = _affine(1.0, **kwargs)(_results(boxes))
        np.testing.assert_array_equal(out['gt_bboxes_labels'], kept)


def test_area_ratio_uses_scaled_original():
    # s = 0.25: [0, 0, 64, 64] -> [24, 24, 40, 40], area 256; compared with
    # the s-scaled original (64 * 0.25)^2 = 256 the ratio is 1 (kept); the
    # unscaled ratio would be 256 / 4096 = 0.0625 < 0.1
    out = _affine(0.25)(_results([[0, 0, 64, 64]]))
    np.testing.assert_allclose(out['gt_bboxes'], [[24, 24, 40, 40]], atol=1e-4)


def test_filter_gt_bboxes_directly():
    t = YOLOv5RandomAffine()
    origin = HorizontalBoxes(torch.tensor([[0., 0., 10., 10.]] * 3))
    warped = HorizontalBoxes(
        torch.tensor([[0., 0., 10., 10.], [0., 0., 3., 3.], [0., 0., 2.5,
                                                             10.]]))
    # areas 100, 9 (0.09 <= 0.1), 25 (0.25) with aspect 4
    keep = t.filter_gt_bboxes(origin, warped)
    assert keep.dtype == torch.bool
    assert keep.tolist() == [True, False, True]


def test_masks_refine_boxes():
    res = _results([[16, 16, 48, 48]])
    res['gt_masks'] = PolygonMasks(
        [[np.array([16, 16, 48, 16, 48, 48, 16, 48], dtype=np.float64)]], 64,
        64)
    out = _affine(0.5, resample_num=8)(res)
    masks = out['gt_masks']
    assert isinstance(masks, PolygonMasks) and len(masks) == 1
    assert (masks.height, masks.width) == (64, 64)
    poly = masks.masks[0][0]
    assert poly.shape == (16, )  # resample_num points
    xy = poly.reshape(-1, 2)
    np.testing.assert_allclose(xy.min(0), [24, 24], atol=1e-4)
    np.testing.assert_allclose(xy.max(0), [40, 40], atol=1e-4)
    np.testing.assert_allclose(out['gt_bboxes'], [[24, 24, 40, 40]], atol=1e-4)


def test_masks_filtered_with_boxes():
    # second object's polygon leaves the image: after the filter its box
    # and mask are gone together
    res = _results([[16, 16, 48, 48], [-40, 0, -10, 20]])
    res['gt_masks'] = PolygonMasks([
        [np.array([16, 16, 48, 16, 48, 48, 16, 48], dtype=np.float64)],
        [np.array([-40, 0, -10, 0, -10, 20, -40, 20], dtype=np.float64)],
    ], 64, 64)
    out = _affine(1.0, resample_num=16)(res)
    assert len(out['gt_masks']) == 1 and len(out['gt_bboxes']) == 1
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [0])


def test_bitmap_masks_are_rejected():
    res = _results([[16, 16, 48, 48]])
    res['gt_masks'] = BitmapMasks(np.zeros((1, 64, 64), np.uint8), 64, 64)
    with pytest.raises(TypeError, match='PolygonMasks'):
        _affine(1.0)(res)


def test_empty_boxes_with_masks():
    res = _results([])
    res['gt_masks'] = PolygonMasks([], 64, 64)
    out = _affine(1.0, border=(-16, -16))(res)
    assert out['gt_bboxes'].shape == (0, 4)
    assert isinstance(out['gt_masks'], PolygonMasks)
    assert len(out['gt_masks']) == 0
    assert (out['gt_masks'].height, out['gt_masks'].width) == (32, 32)


def test_resample_masks_by_hand():
    t = YOLOv5RandomAffine(resample_num=7)
    masks = PolygonMasks([[np.array([0., 0., 4., 0., 4., 4.])]], 8, 8)
    # closed: (0,0) (4,0) (4,4) (0,0) at positions 0..3, sampled at
    # 0, .5, 1, 1.5, 2, 2.5, 3
    out = t.resample_masks(masks).masks[0][0]
    np.testing.assert_allclose(out, [0, 0, 2, 0, 4, 0, 4, 2, 4, 4, 2, 2, 0, 0])


def test_segment2box_by_hand():
    t = YOLOv5RandomAffine()
    masks = PolygonMasks(
        [
            # (-5, 5) is outside; the object's two polygons are joined
            [
                np.array([-5., 5., 20., 5., 20., 30.]),
                np.array([1., 2., 3., 4., 5., 6.])
            ],
            [np.array([40., 40., 50., 40., 50., 50.])],  # all outside
        ],
        32,
        32)
    boxes = t.segment2box(masks, 32, 32)
    assert isinstance(boxes, HorizontalBoxes)
    assert boxes.tensor.dtype == torch.float32
    np.testing.assert_allclose(boxes.numpy(), [[1, 2, 20, 30], [0, 0, 0, 0]])


def test_warp_poly_perspective_divide():
    m = np.array([[1., 0., 0.], [0., 1., 0.], [0.1, 0., 1.]])
    # (2, 3): w = 0.1 * 2 + 1 = 1.2 -> (2 / 1.2, 3 / 1.2)
    out = YOLOv5RandomAffine.warp_poly(np.array([2., 3.]), m, 10, 10)
    np.testing.assert_allclose(out, [2 / 1.2, 2.5])


def test_warp_mask_shape():
    t = YOLOv5RandomAffine()
    masks = PolygonMasks([[np.array([1., 1., 5., 1., 5., 5.])]], 64, 64)
    m = np.array([[2., 0., 1.], [0., 2., 0.], [0., 0., 1.]])
    out = t.warp_mask(masks, m, 40, 30)
    assert (out.height, out.width) == (30, 40)
    np.testing.assert_allclose(out.masks[0][0], [3, 2, 11, 2, 11, 10])


def test_clip_polygons():
    t = YOLOv5RandomAffine()
    masks = PolygonMasks([[np.array([-1., 5., 40., -2., 10., 50.])]], 32, 32)
    out = t.clip_polygons(masks, 32, 32)
    np.testing.assert_allclose(out.masks[0][0], [0, 5, 32, 0, 10, 32])
    empty = t.clip_polygons(PolygonMasks([], 32, 32), 20, 24)
    assert len(empty) == 0 and (empty.height, empty.width) == (20, 24)


def test_default_keeps_size_and_dtypes():
    res = _results([[50, 50, 150, 150], [10, 20, 90, 120]],
                   shape=(224, 224, 3))
    np.random.seed(0)
    out = YOLOv5RandomAffine()(res)
    assert out['img'].shape == (224, 224, 3)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32
    assert out['gt_bboxes_labels'].dtype == np.int64
    assert out['gt_ignore_flags'].dtype == bool
    res = _results([[50, 50, 150, 150]], shape=(224, 224, 3))
    res['gt_bboxes'] = HorizontalBoxes(res['gt_bboxes'])
    out = YOLOv5RandomAffine()(res)
    assert isinstance(out['gt_bboxes'], HorizontalBoxes)
    assert out['gt_bboxes'].tensor.dtype == torch.float32


def test_without_boxes_only_the_image_is_warped():
    out = _affine(0.5)({'img': np.full((32, 32, 3), 9, np.uint8)})
    assert out['img'].shape == (32, 32, 3) and 'gt_bboxes' not in out


@pytest.mark.parametrize('kwargs', [
    dict(max_translate_ratio=1.5),
    dict(max_translate_ratio=-0.1),
    dict(scaling_ratio_range=(1.5, 0.5)),
    dict(scaling_ratio_range=(0.0, 0.5)),
])
def test_constructor_asserts(kwargs):
    with pytest.raises(AssertionError):
        YOLOv5RandomAffine(**kwargs)


def test_border_leaving_no_output():
    with pytest.raises(ValueError, match='border'):
        _affine(1.0, border=(-40, -40))(_results([]))
