"""PPYOLOERandomDistort: each operation against its formula (spec 05).

Single operations are isolated by setting the other probabilities to 0 and
``min == max`` so the factor is known; the expected images are the
formulas applied by hand. The last test replays seeded draws against
MMYOLO 0.6.0's transform (``mmyolo_reference``).
"""
import numpy as np
import pytest

from yolokit.registry import TRANSFORMS

OFF = dict(min=1., max=1., prob=0.)


def _distort(**cfgs):
    full = dict(hue_cfg=OFF, saturation_cfg=OFF, contrast_cfg=OFF,
                brightness_cfg=OFF)
    full.update(cfgs)
    return TRANSFORMS.build(dict(type='PPYOLOERandomDistort', **full))


def _img():
    return np.random.RandomState(0).randint(0, 256, (6, 5, 3)).astype(
        np.uint8)


def test_all_off_only_casts():
    img = _img()
    out = _distort()(dict(img=img.copy()))['img']
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, img.astype(np.float32))


def test_brightness_adds():
    img = _img()
    out = _distort(brightness_cfg=dict(min=7., max=7., prob=1.))(
        dict(img=img.copy()))['img']
    np.testing.assert_allclose(out, img + 7.)


def test_contrast_scales():
    img = _img()
    out = _distort(contrast_cfg=dict(min=1.5, max=1.5, prob=1.))(
        dict(img=img.copy()))['img']
    np.testing.assert_allclose(out, img * 1.5, rtol=1e-6)


def test_saturation_zero_gives_luma_on_every_channel():
    img = _img()
    out = _distort(saturation_cfg=dict(min=0., max=0., prob=1.))(
        dict(img=img.copy()))['img']
    b, g, r = (img[..., i].astype(np.float64) for i in range(3))
    luma = 0.114 * b + 0.587 * g + 0.299 * r  # BT.601 on BGR
    for c in range(3):
        np.testing.assert_allclose(out[..., c], luma, rtol=1e-5)


def test_hue_rotation_keeps_luma():
    # rotating the (I, Q) plane leaves Y = 0.114 B + 0.587 G + 0.299 R
    # (up to the 3-digit YIQ matrices: tolerance 1% of the 255 range)
    img = _img()
    out = _distort(hue_cfg=dict(min=0.5, max=0.5, prob=1.))(
        dict(img=img.copy()))['img']
    luma = img.astype(np.float64) @ np.array([0.114, 0.587, 0.299])
    out_luma = out.astype(np.float64) @ np.array([0.114, 0.587, 0.299])
    np.testing.assert_allclose(out_luma, luma, atol=2.6)
    assert np.abs(out - img).max() > 10  # the colours did change


@pytest.mark.parametrize('bad', [dict(num_distort_func=0),
                                 dict(num_distort_func=5),
                                 dict(hue_cfg=dict(min=0, max=1, prob=2.))])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        TRANSFORMS.build(dict(type='PPYOLOERandomDistort', **bad))


def _plain_distort(img, k):
    """Slow reference: MMYOLO 0.6.0's draw order (permutation of
    [brightness, contrast, saturation, hue], then per operation a gate
    draw U(0, 1) < 0.5 and a factor draw U(min, max)) with the formulas."""
    x = img.astype(np.float64)
    luma_w = np.array([0.114, 0.587, 0.299])
    for op in np.random.permutation(4)[:k]:
        if np.random.uniform(0., 1.) >= 0.5:
            continue
        lo, hi = (-18., 18.) if op == 3 else (0.5, 1.5)
        d = np.random.uniform(lo, hi)
        if op == 0:
            x = x + d
        elif op == 1:
            x = x * d
        elif op == 2:
            x = d * x + (1 - d) * (x @ luma_w)[..., None]
        else:
            c, s = np.cos(d * np.pi), np.sin(d * np.pi)
            to_yiq = np.array([[0.114, 0.587, 0.299], [-0.321, -0.274, 0.596],
                               [0.311, -0.523, 0.211]])
            to_bgr = np.array([[1.0, -1.107, 1.705], [1.0, -0.272, -0.647],
                               [1.0, 0.956, 0.621]])
            rot = np.array([[1., 0., 0.], [0., c, -s], [0., s, c]])
            x = np.einsum('ij,hwj->hwi', to_bgr @ rot @ to_yiq, x)
    return x


@pytest.mark.parametrize('seed', range(6))
def test_default_draws_follow_plain_reference(seed):
    img = _img()
    np.random.seed(seed)
    ours = TRANSFORMS.build(dict(type='PPYOLOERandomDistort',
                                 num_distort_func=3))(dict(img=img.copy()))
    np.random.seed(seed)
    expected = _plain_distort(img, 3)
    np.testing.assert_allclose(ours['img'], expected, rtol=1e-4, atol=1e-2)
