"""Tests of LetterResize against hand-computed letterbox geometry.

Geometry (spec 05 §5.2): ratio = min(th / h, tw / w) (capped at 1 if
allow_scale_up is False); new size = round(h * ratio), round(w * ratio);
padding split floor(p / 2) top/left, the rest bottom/right; pad_param is
[top, bottom, left, right]; scale_factor is (w, h).
"""
import copy

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from yolokit.datasets.transforms.keep_ratio_resize import \
    YOLOv5KeepRatioResize
from yolokit.datasets.transforms.letter_resize import LetterResize
from yolokit.registry import TRANSFORMS


def _results(h=300, w=400, boxes=((0, 0, 150, 150), ), batch_shape=(192, 672)):
    rng = np.random.default_rng(0)
    results = dict(
        img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
        gt_bboxes=HorizontalBoxes(torch.tensor(boxes, dtype=torch.float32)))
    if batch_shape is not None:
        results['batch_shape'] = np.array(batch_shape, dtype=np.int64)
    return results


def test_registered():
    assert TRANSFORMS.get('LetterResize') is LetterResize


@pytest.mark.parametrize('kwargs', [
    dict(allow_scale_up=False),
    dict(pad_val=dict(img=144)),
    dict(allow_scale_up=True),
])
def test_batch_shape_vector(kwargs):
    # 300 x 400 into (192, 672): ratio = min(.64, 1.68) = .64 -> 192 x 256,
    # pad w = 416 -> 208 / 208. Box * .64 = (0, 0, 96, 96), + 208 in x.
    out = LetterResize(scale=(640, 640), **kwargs).transform(_results())
    assert out['img_shape'] == (192, 672, 3)
    assert out['img'].shape == (192, 672, 3)
    assert out['gt_bboxes'].tensor.tolist() == [[208, 0, 304, 96]]
    assert out['pad_param'].tolist() == [0, 0, 208, 208]
    assert out['pad_param'].dtype == np.float32
    np.testing.assert_allclose(out['scale_factor'], (0.64, 0.64))
    pad = kwargs.get('pad_val', {}).get('img', 0)
    assert (out['img'][:, :208] == pad).all()
    assert (out['img'][:, 464:] == pad).all()


def test_resized_content_matches_cv2_bilinear():
    results = _results()
    img = results['img'].copy()
    out = LetterResize(scale=(640, 640)).transform(results)
    expected = cv2.resize(img, (256, 192), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out['img'][:, 208:464], expected)


def test_use_mini_pad():
    # Padding 416 in w becomes 416 % 32 = 0: the 192 x 256 image as is.
    out = LetterResize(
        scale=(640, 640), use_mini_pad=True).transform(_results())
    assert out['img_shape'] == (192, 256, 3)
    assert out['gt_bboxes'].tensor.tolist() == [[0, 0, 96, 96]]
    assert out['pad_param'].tolist() == [0, 0, 0, 0]


def test_stretch_only():
    # Ratios per axis: h 192/300 = .64, w 672/400 = 1.68.
    out = LetterResize(
        scale=(640, 640), stretch_only=True).transform(_results())
    assert out['img_shape'] == (192, 672, 3)
    torch.testing.assert_close(out['gt_bboxes'].tensor,
                               torch.tensor([[0., 0., 252., 96.]]))
    assert out['pad_param'].tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(out['scale_factor'], (1.68, 0.64))


@pytest.mark.parametrize('h,w', [(300, 400), (640, 640), (17, 1000),
                                 (1000, 17), (50, 60)])
def test_without_batch_shape_output_is_scale(h, w):
    out = LetterResize(scale=(640, 480)).transform(
        _results(h, w, boxes=((0, 0, 1, 1), ), batch_shape=None))
    assert out['img_shape'] == (480, 640, 3)


def test_odd_padding_and_half_pad_param():
    # 100 x 200 into (151, 200): ratio = min(1.51, 1) = 1, no resize;
    # pad h = 51 -> top 25, bottom 26.
    def run(half):
        return LetterResize(
            scale=(200, 151), half_pad_param=half).transform(
                _results(
                    100, 200, boxes=((10, 10, 20, 20), ), batch_shape=None))

    out = run(False)
    assert out['pad_param'].tolist() == [25, 26, 0, 0]
    assert out['gt_bboxes'].tensor.tolist() == [[10, 35, 20, 45]]
    assert out['img_shape'] == (151, 200, 3)
    out = run(True)
    assert out['pad_param'].tolist() == [25.5, 25.5, 0, 0]
    # The image is still padded by whole pixels (25 on top).
    assert out['gt_bboxes'].tensor.tolist() == [[10, 35, 20, 45]]


def test_allow_scale_up_false_does_not_enlarge():
    # 100 x 200 into (640, 640): ratio min(6.4, 3.2) = 3.2 -> capped to 1;
    # pad h 540 -> 270/270, pad w 440 -> 220/220.
    out = LetterResize(
        scale=(640, 640), allow_scale_up=False).transform(
            _results(100, 200, boxes=((0, 0, 10, 10), ), batch_shape=None))
    assert out['pad_param'].tolist() == [270, 270, 220, 220]
    assert out['scale_factor'] == (1.0, 1.0)
    assert out['gt_bboxes'].tensor.tolist() == [[220, 270, 230, 280]]


def test_numpy_boxes_stay_numpy_float32():
    results = _results()
    results['gt_bboxes'] = np.array([[0, 0, 150, 150]], dtype=np.float32)
    out = LetterResize(scale=(640, 640)).transform(results)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32
    assert out['gt_bboxes'].tolist() == [[208, 0, 304, 96]]


def test_boxes_are_clipped_to_the_padded_image():
    # Box beyond the image: (0, 0, 500, 500) * .64 = 320 -> +208 = 528,
    # clipped to the 672 x 192 canvas -> (208, 0, 528, 192).
    out = LetterResize(scale=(640, 640)).transform(
        _results(boxes=((0, 0, 500, 500), )))
    assert out['gt_bboxes'].tensor.tolist() == [[208, 0, 528, 192]]
    out = LetterResize(
        scale=(640, 640), clip_object_border=False).transform(
            _results(boxes=((0, 0, 500, 500), )))
    assert out['gt_bboxes'].tensor.tolist() == [[208, 0, 528, 320]]


def test_chained_after_keep_ratio_resize_multiplies_scale_factor():
    # KeepRatioResize(32): ratio min(32/400, 32/300) = .08 -> 32 x 24.
    # LetterResize(64, 68) -> target (68, 64): ratio min(68/24, 64/32) = 2
    # -> 64 x 48, pad h 20 -> 10/10. Total factor .08 * 2 = .16.
    results = dict(img=np.zeros((300, 400, 3), np.uint8))
    results = YOLOv5KeepRatioResize(scale=(32, 32)).transform(results)
    np.testing.assert_allclose(results['scale_factor'], (0.08, 0.08))
    out = LetterResize(scale=(64, 68)).transform(results)
    assert out['img_shape'] == (68, 64, 3)
    np.testing.assert_allclose(out['scale_factor'], (0.16, 0.16))
    assert out['pad_param'].tolist() == [10, 10, 0, 0]


def test_chained_letterboxes_accumulate_pad_param():
    # Step 1: 300 x 400 -> (640, 640): ratio 1.6 -> 480 x 640, pad h 160 ->
    #   [80, 80, 0, 0]; box (0,0,150,150) -> (0, 80, 240, 320).
    # Step 2: batch_shape (320, 320): ratio .5 -> 320 x 320, no padding;
    #   pad_param = 0 + [80, 80, 0, 0] * .5 = [40, 40, 0, 0];
    #   box -> (0, 40, 120, 160); scale_factor 1.6 * .5 = .8.
    # Check: original box * .8 + (left 0, top 40) = (0, 40, 120, 160).
    results = LetterResize(scale=(640,
                                  640)).transform(_results(batch_shape=None))
    assert results['pad_param'].tolist() == [80, 80, 0, 0]
    results['batch_shape'] = np.array([320, 320])
    out = LetterResize(scale=(640, 640)).transform(results)
    assert out['pad_param'].tolist() == [40, 40, 0, 0]
    assert out['gt_bboxes'].tensor.tolist() == [[0, 40, 120, 160]]
    np.testing.assert_allclose(out['scale_factor'], (0.8, 0.8))


def test_homography_maps_original_boxes_to_output():
    results = _results(boxes=((10, 20, 150, 150), ))
    out = LetterResize(scale=(640, 640)).transform(copy.deepcopy(results))
    corners = np.array([[10, 20, 1], [150, 150, 1]], dtype=np.float32)
    mapped = corners @ out['homography_matrix'].T
    np.testing.assert_allclose(
        mapped[:, :2].reshape(-1),
        out['gt_bboxes'].tensor[0].numpy(),
        rtol=1e-5)


def test_polygon_masks_are_resized_and_shifted():
    # Square (10, 10)-(50, 50) * .64 = (6.4, 6.4)-(32, 32); + 208 in x.
    results = _results()
    results['gt_masks'] = PolygonMasks(
        [[np.array([10, 10, 50, 10, 50, 50, 10, 50], dtype=np.float64)]], 300,
        400)
    out = LetterResize(scale=(640, 640)).transform(results)
    masks = out['gt_masks']
    assert (masks.height, masks.width) == (192, 672)
    np.testing.assert_allclose(
        masks.masks[0][0], [214.4, 6.4, 240, 6.4, 240, 32, 214.4, 32],
        rtol=1e-5)


def test_bitmap_masks_are_rejected():
    results = _results()
    results['gt_masks'] = BitmapMasks(
        np.zeros((1, 300, 400), np.uint8), 300, 400)
    with pytest.raises(AssertionError, match='PolygonMasks'):
        LetterResize(scale=(640, 640)).transform(results)


def test_seg_map_is_resized_nearest_and_padded_with_seg_value():
    results = _results()
    seg = np.zeros((300, 400), np.uint8)
    seg[:, 200:] = 7
    results['gt_seg_map'] = seg
    out = LetterResize(scale=(640, 640)).transform(results)
    expected = mmcv.impad(
        mmcv.imresize(seg, (256, 192), interpolation='nearest'),
        padding=(208, 0, 208, 0),
        pad_val=255)
    np.testing.assert_array_equal(out['gt_seg_map'], expected)


def test_keypoints_follow_the_boxes(keypoints_cls):
    results = _results()
    results['gt_keypoints'] = keypoints_cls([[[150, 150], [0, 0]]], [[1, 1]],
                                            [1, 0])
    out = LetterResize(scale=(640, 640)).transform(results)
    np.testing.assert_allclose(out['gt_keypoints'].keypoints,
                               [[[304, 96], [208, 0]]])


def test_pad_val_validation_and_number():
    with pytest.raises(TypeError, match='pad_val'):
        LetterResize(scale=(64, 64), pad_val=[1, 2])
    out = LetterResize(scale=(640, 640), pad_val=7).transform(_results())
    assert (out['img'][:, :208] == 7).all()
