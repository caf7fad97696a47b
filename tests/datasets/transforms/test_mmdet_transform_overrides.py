"""Tests of yolokit's RandomAffine, RandomFlip and Resize (keypoint aware).

MMDetection's transforms of the same names are the reference for images and
boxes; keypoints are checked by hand.
"""
import copy

import numpy as np
import pytest
import torch
from mmdet.datasets.transforms import RandomAffine as MMDetRandomAffine
from mmdet.datasets.transforms import RandomFlip as MMDetRandomFlip
from mmdet.datasets.transforms import Resize as MMDetResize
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import PolygonMasks

from yolokit.datasets.transforms.mmdet_transform_overrides import (
    RandomAffine, RandomFlip, Resize)
from yolokit.registry import TRANSFORMS


def _results(h=60, w=80):
    rng = np.random.default_rng(0)
    return dict(
        img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
        img_shape=(h, w),
        gt_bboxes=HorizontalBoxes(
            torch.tensor([[10., 10., 30., 40.], [50., 5., 79., 20.]])),
        gt_bboxes_labels=np.array([1, 2], np.int64),
        gt_ignore_flags=np.array([False, False]))


def test_registered_in_yolokit_scope_only():
    assert TRANSFORMS.get('RandomAffine') is RandomAffine
    assert TRANSFORMS.get('RandomFlip') is RandomFlip
    assert TRANSFORMS.get('Resize') is Resize
    assert TRANSFORMS.get('mmdet.RandomFlip') is MMDetRandomFlip


@pytest.mark.parametrize('seed', [0, 5])
def test_random_affine_matches_mmdet_on_boxes(seed):
    kwargs = dict(
        max_rotate_degree=20, scaling_ratio_range=(0.6, 1.4), border=(-10, -8))
    np.random.seed(seed)
    ref = MMDetRandomAffine(**kwargs).transform(_results())
    np.random.seed(seed)
    out = RandomAffine(**kwargs).transform(_results())
    np.testing.assert_array_equal(out['img'], ref['img'])
    assert out['img_shape'] == (44, 60, 3)
    torch.testing.assert_close(out['gt_bboxes'].tensor,
                               ref['gt_bboxes'].tensor)
    np.testing.assert_array_equal(out['gt_bboxes_labels'],
                                  ref['gt_bboxes_labels'])


def test_random_affine_projects_and_filters_keypoints(keypoints_cls):
    # Pure scaling by .5 about the origin (no rotation/shear/translation).
    t = RandomAffine(
        max_rotate_degree=0,
        max_translate_ratio=0,
        scaling_ratio_range=(0.5, 0.5),
        max_shear_degree=0)
    results = _results()
    results['gt_bboxes'] = HorizontalBoxes(
        torch.tensor([[10., 10., 30., 40.], [200., 200., 220., 220.]]))
    results['gt_keypoints'] = keypoints_cls([[[20, 30]], [[210, 210]]],
                                            [[1], [1]], [0])
    out = t.transform(results)
    # The second box lands at (100, 100)+, outside the 80 x 60 image.
    assert out['gt_bboxes'].tensor.tolist() == [[5, 5, 15, 20]]
    assert out['gt_bboxes_labels'].tolist() == [1]
    np.testing.assert_allclose(out['gt_keypoints'].keypoints, [[[10, 15]]])


def test_random_affine_rejects_masks():
    results = _results()
    results['gt_masks'] = PolygonMasks([[np.zeros(6)], [np.zeros(6)]], 60, 80)
    with pytest.raises(NotImplementedError, match='only supports'):
        RandomAffine().transform(results)


def test_random_flip_matches_mmdet_and_flips_keypoints(keypoints_cls):
    ref = MMDetRandomFlip(prob=1.0).transform(_results())
    results = _results()
    results['gt_keypoints'] = keypoints_cls([[[10, 1], [20, 2]]] * 2,
                                            [[1, 0]] * 2, [1, 0])
    img = results['img'].copy()
    out = RandomFlip(prob=1.0).transform(results)
    np.testing.assert_array_equal(out['img'], ref['img'])
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    torch.testing.assert_close(out['gt_bboxes'].tensor,
                               ref['gt_bboxes'].tensor)
    assert out['flip'] is True and out['flip_direction'] == 'horizontal'
    np.testing.assert_array_equal(out['homography_matrix'],
                                  ref['homography_matrix'])
    # x -> 80 - x, then left/right swapped by flip_indices [1, 0].
    np.testing.assert_allclose(out['gt_keypoints'].keypoints[0],
                               [[60, 2], [70, 1]])
    np.testing.assert_allclose(out['gt_keypoints'].keypoints_visible[0],
                               [0, 1])


def test_random_flip_array_keypoints_and_masks():
    results = _results()
    results['gt_keypoints'] = np.array([[[10., 1., 2.]]])
    results['gt_masks'] = PolygonMasks([[np.array([0., 0, 10, 0, 10, 10])]] *
                                       2, 60, 80)
    out = RandomFlip(prob=1.0, direction='vertical').transform(results)
    np.testing.assert_allclose(out['gt_keypoints'], [[[10, 59, 2]]])
    np.testing.assert_allclose(out['gt_masks'].masks[0][0],
                               [0, 60, 10, 60, 10, 50])


def test_resize_matches_mmdet_and_rescales_keypoints(keypoints_cls):
    kwargs = dict(scale=(40, 30), keep_ratio=False)
    ref = MMDetResize(**kwargs).transform(_results())
    results = _results()
    results['gt_keypoints'] = keypoints_cls([[[20, 30]], [[79, 59]]],
                                            [[1], [1]], [0])
    out = Resize(**kwargs).transform(results)
    np.testing.assert_array_equal(out['img'], ref['img'])
    torch.testing.assert_close(out['gt_bboxes'].tensor,
                               ref['gt_bboxes'].tensor)
    assert out['scale_factor'] == ref['scale_factor'] == (0.5, 0.5)
    np.testing.assert_allclose(out['gt_keypoints'].keypoints,
                               [[[10, 15]], [[39.5, 29.5]]])


def test_resize_by_scale_factor_and_array_keypoints():
    results = _results()
    results['gt_keypoints'] = np.array([[[20., 30., 1.], [79., 59., 0.]]])
    out = Resize(scale_factor=2.0).transform(copy.deepcopy(results))
    assert out['img_shape'] == (120, 160)
    assert out['scale'] == (160, 120)
    np.testing.assert_allclose(out['gt_keypoints'],
                               [[[40, 60, 1], [158, 118, 0]]])
