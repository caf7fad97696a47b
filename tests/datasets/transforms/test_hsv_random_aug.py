"""Tests of YOLOv5HSVRandomAug against the YOLOv5 formula computed per pixel.

YOLOv5: gains g = U(-1, 1, 3) * (hue, sat, val deltas) + 1; in OpenCV HSV
h' = (h * g_h) mod 180, s' = clip(s * g_s, 0, 255), v' = clip(v * g_v, 0, 255)
(each truncated to uint8), then back to BGR.
"""
import cv2
import numpy as np
import pytest

from yolokit.datasets.transforms.hsv_random_aug import YOLOv5HSVRandomAug
from yolokit.registry import TRANSFORMS


def _reference(img, gains):
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float64)
    out = np.empty(hsv.shape, np.uint8)
    out[..., 0] = (hsv[..., 0] * gains[0] % 180).astype(np.uint8)
    out[..., 1] = np.clip(hsv[..., 1] * gains[1], 0, 255).astype(np.uint8)
    out[..., 2] = np.clip(hsv[..., 2] * gains[2], 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_HSV2BGR)


@pytest.mark.parametrize('seed', [0, 1, 7])
def test_matches_per_pixel_formula(images_dir, seed):
    img = cv2.imread(f'{images_dir}/dog.jpg')[::4, ::4].copy()
    deltas = np.array([0.015, 0.7, 0.4])
    np.random.seed(seed)
    gains = np.random.uniform(-1, 1, 3) * deltas + 1

    np.random.seed(seed)
    out = YOLOv5HSVRandomAug().transform(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, _reference(img, gains))


def test_large_hue_delta_wraps_hue(images_dir):
    img = cv2.imread(f'{images_dir}/dog.jpg')[::4, ::4].copy()
    np.random.seed(3)
    gains = np.random.uniform(-1, 1, 3) * [0.9, 0, 0] + 1
    np.random.seed(3)
    out = YOLOv5HSVRandomAug(
        hue_delta=0.9, saturation_delta=0,
        value_delta=0).transform(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(out, _reference(img, gains))


def test_changes_the_image_and_rejects_non_bgr(images_dir):
    img = cv2.imread(f'{images_dir}/dog.jpg')[::4, ::4].copy()
    np.random.seed(0)
    out = YOLOv5HSVRandomAug(
        saturation_delta=0.9,
        value_delta=0.9).transform(dict(img=img.copy()))['img']
    assert np.abs(out.astype(int) - img).mean() > 1
    with pytest.raises(ValueError, match='uint8 BGR'):
        YOLOv5HSVRandomAug().transform(dict(img=img[..., 0].copy()))


def test_registered_and_repr():
    t = TRANSFORMS.build(dict(type='YOLOv5HSVRandomAug', hue_delta=0.1))
    assert isinstance(t, YOLOv5HSVRandomAug)
    assert repr(t) == ('YOLOv5HSVRandomAug(hue_delta=0.1, '
                       'saturation_delta=0.7, value_delta=0.4)')
