"""Tests of YOLOv5KeepRatioResize.

ratio = min(max(scale) / max(h, w), min(scale) / min(h, w)); new size
(int(w * ratio), int(h * ratio)); 'area' when shrinking, 'bilinear' when
enlarging (spec 05 §5.18).
"""
import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import PolygonMasks

from yolokit.datasets.transforms.keep_ratio_resize import \
    YOLOv5KeepRatioResize
from yolokit.registry import TRANSFORMS


def test_upstream_vector():
    # 300 x 400 with scale 640: ratio = min(640/400, 640/300) = 1.6.
    results = dict(
        img=np.zeros((300, 400, 3), np.uint8),
        gt_bboxes=HorizontalBoxes(torch.tensor([[0., 0., 150., 150.]])))
    out = YOLOv5KeepRatioResize(scale=(640, 640)).transform(results)
    assert out['img_shape'] == (480, 640)
    assert out['img'].shape == (480, 640, 3)
    assert out['scale_factor'] == (1.6, 1.6)
    assert out['gt_bboxes'].tensor.tolist() == [[0, 0, 240, 240]]
    assert out['gt_bboxes'].tensor.dtype == torch.float32


def test_ratio_uses_long_and_short_edges():
    # scale (640, 320), image 100 x 300 (h x w):
    #   min(640 / 300, 320 / 100) = 2.133 -> (int(300 * 2.133),
    #   int(100 * 2.133)) = (640, 213).
    out = YOLOv5KeepRatioResize(scale=(640, 320)).transform(
        dict(img=np.zeros((100, 300, 3), np.uint8)))
    assert out['img_shape'] == (213, 640)
    np.testing.assert_allclose(out['scale_factor'], (640 / 300, 213 / 100))


def test_interpolation_area_when_shrinking_bilinear_when_enlarging(images_dir):
    img = cv2.imread(f'{images_dir}/dog.jpg')
    h, w = img.shape[:2]
    small = YOLOv5KeepRatioResize(scale=(320, 320)).transform(
        dict(img=img.copy()))['img']
    ratio = min(320 / max(h, w), 320 / min(h, w))
    size = (int(w * ratio), int(h * ratio))
    np.testing.assert_array_equal(
        small, cv2.resize(img, size, interpolation=cv2.INTER_AREA))

    tiny = img[:50, :60].copy()
    big = YOLOv5KeepRatioResize(scale=(120, 120)).transform(
        dict(img=tiny.copy()))['img']
    # ratio = min(120 / 60, 120 / 50) = 2 -> 120 x 100
    np.testing.assert_array_equal(
        big, cv2.resize(tiny, (120, 100), interpolation=cv2.INTER_LINEAR))


def test_same_size_is_untouched():
    img = np.random.default_rng(0).integers(
        0, 255, (480, 640, 3), dtype=np.uint8)
    out = YOLOv5KeepRatioResize(scale=(640,
                                       640)).transform(dict(img=img.copy()))
    np.testing.assert_array_equal(out['img'], img)
    assert out['scale_factor'] == (1.0, 1.0)


def test_keep_ratio_must_be_true():
    with pytest.raises(AssertionError):
        YOLOv5KeepRatioResize(scale=(640, 640), keep_ratio=False)
    transform = YOLOv5KeepRatioResize(scale=(640, 640))
    transform.keep_ratio = False
    with pytest.raises(AssertionError):
        transform.transform(dict(img=np.zeros((30, 40, 3), np.uint8)))


def test_get_rescale_ratio_inputs():
    assert YOLOv5KeepRatioResize._get_rescale_ratio((10, 20), 0.5) == 0.5
    assert YOLOv5KeepRatioResize._get_rescale_ratio((10, 20), [40, 20]) == 2.0
    with pytest.raises(ValueError, match='positive'):
        YOLOv5KeepRatioResize._get_rescale_ratio((10, 20), -1)
    with pytest.raises(TypeError, match='scale'):
        YOLOv5KeepRatioResize._get_rescale_ratio((10, 20), '640')


def test_masks_and_seg_match_the_image_size():
    # 301 x 401: ratio = min(640/401, 640/301) = 1.596 ->
    #   (int(401 * 1.596), int(301 * 1.596)) = (640, 480).
    results = dict(
        img=np.zeros((301, 401, 3), np.uint8),
        gt_masks=PolygonMasks([[np.array([0., 0, 401, 0, 401, 301])]], 301,
                              401),
        gt_seg_map=np.zeros((301, 401), np.uint8))
    out = YOLOv5KeepRatioResize(scale=(640, 640)).transform(results)
    assert out['img_shape'] == (480, 640)
    assert (out['gt_masks'].height, out['gt_masks'].width) == (480, 640)
    np.testing.assert_allclose(out['gt_masks'].masks[0][0],
                               [0, 0, 640, 0, 640, 480])
    assert out['gt_seg_map'].shape == (480, 640)


def test_registered():
    assert TRANSFORMS.get('YOLOv5KeepRatioResize') is YOLOv5KeepRatioResize
