"""Tests of PPYOLOEBatchRandomResize.

Facts from MMYOLO 0.6.0 (spec 06 §2): a square side that is a multiple of
``size_divisor`` inside ``random_size_range``, drawn when
``(iter + 1) % interval == 0``; every image stretched to it; boxes scaled by
the image's own x and y factors. The last tests replay seeded draws against
MMYOLO's class (``mmyolo_reference``).
"""
import copy
import random

import pytest
import torch
import torch.nn.functional as F
from mmengine import MessageHub

from yolokit.models.data_preprocessors import PPYOLOEBatchRandomResize
from yolokit.models.data_preprocessors.ppyoloe_batch_random_resize import (
    INTERP_MODES, rescale_batch_boxes)
from yolokit.registry import MODELS


def _set_iter(i):
    MessageHub.get_current_instance().update_info('iter', i)


def _images():
    g = torch.Generator().manual_seed(0)
    return [
        torch.rand(3, 16, 24, generator=g) * 255,
        torch.rand(3, 32, 32, generator=g) * 255
    ]


def _samples():
    return dict(
        bboxes_labels=torch.tensor([[0, 1, 2., 4., 6., 8.],
                                    [1, 0, 1., 1., 3., 3.],
                                    [0, 2, 0., 0., 24., 16.]]))


def test_boxes_scaled_by_each_images_factors_by_hand():
    # image 0: 24 x 16 -> 64 x 64, scale_x = 64 / 24 = 8 / 3, scale_y = 4
    # image 1: 32 x 32 -> 64 x 64, scale 2 on both axes
    resize = PPYOLOEBatchRandomResize((320, 800),
                                      interval=1000,
                                      random_interp=False,
                                      interp_mode='nearest')
    resize._input_size = (64, 64)
    _set_iter(0)  # 1 % 1000 != 0: keep the size set above
    samples = _samples()
    out, out_samples = resize(_images(), samples)
    assert out.shape == (2, 3, 64, 64)
    expected = torch.tensor([[0, 1, 2 * 8 / 3, 16, 6 * 8 / 3, 32],
                             [1, 0, 2, 2, 6, 6], [0, 2, 0, 0, 64, 64]])
    torch.testing.assert_close(out_samples['bboxes_labels'], expected)
    # (the whole-image box of image 0 became the whole new image);
    # the caller's tensor is left alone
    assert samples['bboxes_labels'].tolist() == _samples(
    )['bboxes_labels'].tolist()
    imgs = _images()
    torch.testing.assert_close(
        out[0],
        F.interpolate(imgs[0][None], (64, 64), mode='nearest')[0])
    torch.testing.assert_close(
        out[1],
        F.interpolate(imgs[1][None], (64, 64), mode='nearest')[0])


def test_image_already_at_size_is_untouched():
    resize = PPYOLOEBatchRandomResize((320, 800),
                                      interval=1000,
                                      random_interp=False,
                                      interp_mode='bicubic')
    resize._input_size = (32, 32)
    _set_iter(0)
    imgs = _images()
    out, out_samples = resize(imgs, _samples())
    assert torch.equal(out[1], imgs[1])
    assert out_samples['bboxes_labels'][1].tolist() == [1, 0, 1, 1, 3, 3]


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic', 'area'])
def test_smooth_modes_match_interpolate(mode):
    resize = PPYOLOEBatchRandomResize((320, 800),
                                      random_interp=False,
                                      interp_mode=mode,
                                      interval=1000)
    resize._input_size = (40, 40)
    _set_iter(0)
    imgs = _images()
    out, _ = resize(imgs, _samples())
    align = None if mode == 'area' else False
    torch.testing.assert_close(
        out[0],
        F.interpolate(imgs[0][None], (40, 40), mode=mode,
                      align_corners=align)[0])


def test_drawn_sizes_are_multiples_of_divisor_in_range():
    resize = MODELS.build(
        dict(
            type='PPYOLOEBatchRandomResize',
            random_size_range=(320, 800),
            interval=1,
            size_divisor=32,
            random_interp=True,
            keep_ratio=False))
    random.seed(0)
    sides, modes = set(), set()
    for i in range(200):
        _set_iter(i)
        out, _ = resize([torch.rand(3, 8, 8)],
                        dict(bboxes_labels=torch.zeros(0, 6)))
        h, w = out.shape[-2:]
        assert h == w == resize._input_size[0]
        assert 320 <= h <= 800 and h % 32 == 0
        sides.add(h)
        modes.add(resize.interp_mode)
    # 320 / 32 = 10 .. 800 / 32 = 25: 16 sides, both ends reachable
    assert sides == {32 * k for k in range(10, 26)}
    assert modes == {'nearest', 'bilinear', 'bicubic', 'area'}


def test_new_size_only_every_interval():
    resize = PPYOLOEBatchRandomResize((64, 640), interval=3)
    random.seed(1)
    seen = []
    for i in range(9):
        _set_iter(i)
        resize([torch.rand(3, 8, 8)], dict(bboxes_labels=torch.zeros(0, 6)))
        seen.append(resize._input_size)
    # draws at iter 0 (no size yet), 2, 5 and 8 ((i + 1) % 3 == 0)
    assert seen[0] == seen[1]
    assert seen[2] == seen[3] == seen[4]
    assert seen[5] == seen[6] == seen[7]


def test_rescale_batch_boxes_by_hand():
    rows = torch.tensor([[1, 5, 1., 2., 3., 4.], [0, 5, 1., 2., 3., 4.]])
    scales = torch.tensor([[2., 3.], [0.5, 10.]])  # (sx, sy) of img 0, 1
    out = rescale_batch_boxes(rows, scales)
    assert out.tolist() == [[1, 5, 0.5, 20, 1.5, 40], [0, 5, 2, 6, 6, 12]]


@pytest.mark.parametrize('kwargs, match', [
    (dict(keep_ratio=True), 'keep_ratio'),
    (dict(random_interp=True, interp_mode='bilinear'), 'interp_mode'),
    (dict(random_interp=True, interp_mode=['nearest']), 'interp_mode'),
    (dict(random_interp=False, interp_mode=list(INTERP_MODES)), 'interp_mode'),
    (dict(random_interp=False, interp_mode='cubic'), 'cubic'),
    (dict(interval=0), 'interval'),
    (dict(random_size_range=(800, 320)), 'random_size_range')
])
def test_bad_arguments(kwargs, match):
    cfg = dict(random_size_range=(320, 800))
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PPYOLOEBatchRandomResize(**cfg)
    with pytest.raises(AssertionError):  # what MMYOLO raised
        PPYOLOEBatchRandomResize(**cfg)


def test_bad_inputs():
    resize = PPYOLOEBatchRandomResize((320, 800))
    with pytest.raises(TypeError, match='bboxes_labels'):
        resize([torch.rand(3, 8, 8)], [])
    with pytest.raises(TypeError, match='inputs'):
        resize('img', dict(bboxes_labels=torch.zeros(0, 6)))


CFG = dict(
    type='PPYOLOEBatchRandomResize',
    random_size_range=(64, 160),
    interval=2,
    size_divisor=32,
    random_interp=True,
    keep_ratio=False)


def test_seeded_draws_match_mmyolo(mmyolo_reference):
    ours = MODELS.build(CFG)
    theirs = mmyolo_reference.build_model(CFG)
    # MMYOLO needs a size before its first draw when interval > 1
    ours._input_size = theirs._input_size = (96, 96)
    ours.interp_mode = theirs.interp_mode = 'bilinear'
    for i in range(8):
        _set_iter(i)
        imgs = _images()
        random.seed(100 + i)
        out, samples = ours(imgs, _samples())
        random.seed(100 + i)
        ref_out, ref_samples = theirs([x.clone() for x in imgs],
                                      copy.deepcopy(_samples()))
        assert ours._input_size == theirs._input_size
        assert ours.interp_mode == theirs.interp_mode
        torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
        torch.testing.assert_close(
            samples['bboxes_labels'],
            ref_samples['bboxes_labels'],
            rtol=0,
            atol=0)
