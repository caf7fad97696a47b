"""Tests of PackDetInputs."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from yolokit.datasets.transforms.pack_det_inputs import PackDetInputs
from yolokit.registry import TRANSFORMS

META = dict(
    img_id=1,
    img_path='a.jpg',
    ori_shape=(4, 5),
    img_shape=(4, 5),
    scale_factor=(1.0, 1.0),
    flip=False,
    flip_direction=None)


def _results(**extra):
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    results = dict(
        img=img,
        gt_bboxes=HorizontalBoxes(
            torch.tensor([[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3.]])),
        gt_bboxes_labels=np.array([5, 6, 7], np.int64),
        gt_ignore_flags=np.array([False, True, False]),
        **META)
    results.update(extra)
    return results


def test_inputs_and_instances():
    results = _results()
    packed = PackDetInputs().transform(results)
    inputs = packed['inputs']
    assert inputs.shape == (3, 4, 5)
    np.testing.assert_array_equal(inputs.numpy(),
                                  results['img'].transpose(2, 0, 1))
    sample = packed['data_samples']
    assert sample.gt_instances.labels.tolist() == [5, 7]
    assert sample.gt_instances.bboxes.tensor.tolist() == [[0, 0, 1, 1],
                                                          [2, 2, 3, 3]]
    assert sample.ignored_instances.labels.tolist() == [6]
    for key, value in META.items():
        assert sample.metainfo[key] == value


def test_gray_image_gets_a_channel_axis():
    packed = PackDetInputs(meta_keys=()).transform(
        dict(img=np.zeros((4, 5), np.uint8)))
    assert packed['inputs'].shape == (1, 4, 5)


def test_missing_meta_key_is_an_error():
    with pytest.raises(AssertionError, match='pad_param'):
        PackDetInputs(meta_keys=('img_id', 'pad_param')).transform(_results())


def test_panoptic_seg_and_sem_seg():
    pan = torch.randint(0, 3, (1, 2, 3), dtype=torch.uint8)
    packed = PackDetInputs().transform(
        _results(gt_panoptic_seg=pan, gt_seg_map=np.full((4, 5), 2, np.uint8)))
    sample = packed['data_samples']
    assert torch.equal(sample.gt_panoptic_seg.pan_seg, pan)
    assert sample.gt_sem_seg.sem_seg.shape == (1, 4, 5)


def test_keypoints_are_split_into_coordinates_and_visibility(keypoints_cls):
    kps = keypoints_cls(
        np.arange(12).reshape(3, 2, 2), [[1, 0], [1, 1], [0, 1]], [1, 0])
    results = _results(gt_keypoints=kps)
    packed = PackDetInputs().transform(results)
    gt = packed['data_samples'].gt_instances
    assert gt.keypoints.tolist() == [[[0, 1], [2, 3]], [[8, 9], [10, 11]]]
    assert gt.keypoints_visible.tolist() == [[1, 0], [0, 1]]
    # the caller's results keep the structure
    assert results['gt_keypoints'] is kps


def test_registered():
    assert TRANSFORMS.get('PackDetInputs') is PackDetInputs
