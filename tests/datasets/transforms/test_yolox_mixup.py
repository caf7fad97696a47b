"""Tests of YOLOXMixUp (spec 05 §5.15).

Hand-computed from the spec's steps: keep-ratio resize of the partner into
the top-left of an ``img_scale`` canvas, scale jitter ``jit``, optional
flip, pad to the current image's size, random crop at ``(x_off, y_off)``,
``0.5 * ori + 0.5 * crop``; partner boxes scaled by ``ratio * jit``,
flipped within the jittered canvas and moved by ``(-x_off, -y_off)``.
"""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from yolokit.datasets.transforms.yolox_mixup import YOLOXMixUp


class FakeKeypoints:
    """Stand-in with the part of the Keypoints API (spec 05 §5.21) that the
    mixing transforms use; ``xy`` is ``(N, K, 2)``."""

    def __init__(self, xy):
        self.xy = np.asarray(xy, dtype=np.float32).reshape(-1, 1, 2)

    def rescale_(self, scale):
        self.xy = self.xy * np.asarray(scale, dtype=np.float32)

    def translate_(self, distances):
        self.xy = self.xy + np.asarray(distances, dtype=np.float32)

    def clip_(self, img_shape):
        self.xy[..., 0] = self.xy[..., 0].clip(0, img_shape[1])
        self.xy[..., 1] = self.xy[..., 1].clip(0, img_shape[0])

    def flip_(self, img_shape, direction='horizontal'):
        assert direction == 'horizontal'
        self.xy[..., 0] = img_shape[1] - self.xy[..., 0]

    def clone(self):
        return FakeKeypoints(self.xy.copy())

    def __getitem__(self, index):
        return FakeKeypoints(self.xy[index])

    def __len__(self):
        return len(self.xy)

    @classmethod
    def cat(cls, items, dim=0):
        return cls(np.concatenate([k.xy for k in items], axis=dim))


def _sample(shape, value, boxes, labels):
    return {
        'img':
        np.full(shape, value, dtype=np.uint8),
        'gt_bboxes':
        HorizontalBoxes(np.array(boxes, dtype=np.float32).reshape(-1, 4)),
        'gt_bboxes_labels':
        np.array(labels, dtype=np.int64),
        'gt_ignore_flags':
        np.zeros(len(labels), dtype=bool),
    }


def _draws(monkeypatch, uniforms, randints=()):
    u, r = iter(uniforms), iter(randints)
    monkeypatch.setattr(np.random, 'uniform', lambda *a, **k: next(u))
    monkeypatch.setattr(np.random, 'randint', lambda *a, **k: next(r))


def test_flip_without_crop(monkeypatch):
    # jit = 1.0; flip draw 0.9 > flip_ratio 0.5 -> flip
    _draws(monkeypatch, [1.0, 0.9])
    ori = _sample((64, 64, 3), 100, [[10, 10, 20, 20]], [1])
    # 32 x 32 partner: ratio min(64/32, 64/32) = 2 fills the canvas
    other = _sample((32, 32, 3), 200, [[0, 0, 8, 4]], [5])
    out = YOLOXMixUp(img_scale=(64, 64)).mix_img_transform(
        dict(ori, mix_results=[other]))
    assert out['img'].shape == (64, 64, 3) and out['img'].dtype == np.uint8
    assert out['img_shape'] == (64, 64)
    assert (out['img'] == 150).all()  # 0.5 * 100 + 0.5 * 200
    # [0, 0, 8, 4] * 2 = [0, 0, 16, 8]; flipped in 64: [64-16, 0, 64-0, 8]
    np.testing.assert_allclose(out['gt_bboxes'].numpy(),
                               [[10, 10, 20, 20], [48, 0, 64, 8]])
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [1, 5])
    np.testing.assert_array_equal(out['gt_ignore_flags'], [False, False])


def _jitter_crop_case(monkeypatch, boxes, labels, **kwargs):
    # jit = 1.5, no flip (0.2 <= 0.5); crop offsets y = 10, x = 20
    _draws(monkeypatch, [1.5, 0.2], [10, 20])
    ori = _sample((64, 64, 3), 100, [[1, 1, 5, 5]], [1])
    # 32 x 16 (h x w) partner: ratio min(64/32, 64/16) = 2 -> 64 x 32 in
    # the top-left of the 64 x 64 canvas (the rest is 114); jit 1.5 makes
    # it 96 x 96 with the image in columns 0..48; scale 2 * 1.5 = 3
    other = _sample((32, 16, 3), 200, boxes, labels)
    return YOLOXMixUp(
        img_scale=(64, 64),
        **kwargs).mix_img_transform(dict(ori, mix_results=[other]))


def test_jitter_and_random_crop(monkeypatch):
    out = _jitter_crop_case(monkeypatch, [[2, 4, 10, 20]], [7])
    img = out['img']
    assert img.shape == (64, 64, 3)
    # crop columns 20..84: canvas columns 20..46 are image, 50.. are pad
    assert (img[:, 0:26] == 150).all()  # 0.5 * 100 + 0.5 * 200
    assert (img[:, 30:] == 107).all()  # 0.5 * 100 + 0.5 * 114
    # [2, 4, 10, 20] * 3 = [6, 12, 30, 60]; - (20, 10) = [-14, 2, 10, 50];
    # clipped to 64 x 64: [0, 2, 10, 50]
    np.testing.assert_allclose(out['gt_bboxes'].numpy(),
                               [[1, 1, 5, 5], [0, 2, 10, 50]])


def test_no_clip_removes_outside_keeps_unclipped(monkeypatch):
    # second box: [0, 0, 4, 2] * 3 - (20, 10) = [-20, -10, -8, -4]: outside
    out = _jitter_crop_case(
        monkeypatch, [[2, 4, 10, 20], [0, 0, 4, 2]], [7, 8],
        bbox_clip_border=False)
    np.testing.assert_allclose(out['gt_bboxes'].numpy(),
                               [[1, 1, 5, 5], [-14, 2, 10, 50]])
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [1, 7])


def test_partner_without_boxes_leaves_results_unchanged():
    ori = _sample((64, 64, 3), 100, [[10, 10, 20, 20]], [1])
    img = ori['img'].copy()
    other = _sample((32, 32, 3), 200, np.zeros((0, 4)), [])
    out = YOLOXMixUp(img_scale=(64, 64)).mix_img_transform(
        dict(ori, mix_results=[other]))
    np.testing.assert_array_equal(out['img'], img)
    assert len(out['gt_bboxes']) == 1


def test_exactly_one_partner():
    ori = _sample((64, 64, 3), 100, [[10, 10, 20, 20]], [1])
    other = _sample((32, 32, 3), 200, [[0, 0, 8, 4]], [5])
    with pytest.raises(AssertionError, match='2 images'):
        YOLOXMixUp().mix_img_transform(dict(ori, mix_results=[other, other]))


def test_output_keeps_current_size_through_full_transform():
    other = _sample((48, 80, 3), 200, [[0, 0, 30, 30]], [5])

    class DS:

        def __len__(self):
            return 1

        def get_data_info(self, idx):
            return other

    np.random.seed(0)
    for _ in range(5):
        ori = _sample((40, 56, 3), 100, [[10, 10, 20, 20]], [1])
        ori['gt_bboxes'] = ori['gt_bboxes'].numpy()
        out = YOLOXMixUp(img_scale=(64, 64))(dict(ori, dataset=DS()))
        assert out['img'].shape == (40, 56, 3)
        assert isinstance(out['gt_bboxes'], np.ndarray)
        assert out['gt_bboxes'].dtype == np.float32
        b = out['gt_bboxes']
        assert len(b) == 2
        assert (b[:, 0::2] >= 0).all() and (b[:, 0::2] <= 56).all()
        assert (b[:, 1::2] >= 0).all() and (b[:, 1::2] <= 40).all()
    ori = _sample((40, 56, 3), 100, [[10, 10, 20, 20]], [1])
    out = YOLOXMixUp(img_scale=(64, 64))(dict(ori, dataset=DS()))
    assert out['gt_bboxes'].tensor.dtype == torch.float32


def test_invalid_args():
    with pytest.raises(AssertionError):
        YOLOXMixUp(img_scale=640)
    with pytest.raises(ValueError, match='ratio_range'):
        YOLOXMixUp(ratio_range=(1.5, 0.5))


def test_keypoints_follow_the_partner(monkeypatch):
    _draws(monkeypatch, [1.0, 0.9])  # jit 1, flipped (as above)
    ori = _sample((64, 64, 3), 100, [[10, 10, 20, 20]], [1])
    ori['gt_keypoints'] = FakeKeypoints([[15, 15]])
    other = _sample((32, 32, 3), 200, [[0, 0, 8, 4]], [5])
    other['gt_keypoints'] = FakeKeypoints([[4, 2]])
    out = YOLOXMixUp(img_scale=(64, 64)).mix_img_transform(
        dict(ori, mix_results=[other]))
    # (4, 2) * 2 = (8, 4); flipped in the 64-wide canvas: (56, 4)
    np.testing.assert_allclose(out['gt_keypoints'].xy[:, 0],
                               [[15, 15], [56, 4]])


def test_real_keypoints_are_mirrored_and_relabelled(monkeypatch):
    from yolokit.datasets.transforms.keypoint_structure import Keypoints
    _draws(monkeypatch, [1.0, 0.9])  # jit 1, flipped (as above)
    ori = _sample((64, 64, 3), 100, [[10, 10, 20, 20]], [1])
    ori['gt_keypoints'] = Keypoints([[[15, 15], [16, 15]]], [[1, 1]], [1, 0])
    other = _sample((32, 32, 3), 200, [[0, 0, 8, 4]], [5])
    # left point (2, 2) visible, right point (6, 2) hidden
    other['gt_keypoints'] = Keypoints([[[2, 2], [6, 2]]], [[1, 0]], [1, 0])
    out = YOLOXMixUp(img_scale=(64, 64)).mix_img_transform(
        dict(ori, mix_results=[other]))
    kps = out['gt_keypoints']
    # * 2 -> (4, 4), (12, 4); mirrored in 64: (60, 4), (52, 4); then the
    # two swap labels: [(52, 4), (60, 4)], visibility [0, 1]
    np.testing.assert_allclose(kps.keypoints,
                               [[[15, 15], [16, 15]], [[52, 4], [60, 4]]])
    assert kps.keypoints_visible.tolist() == [[1, 1], [0, 1]]
