"""Tests of FilterAnnotations (box, mask and keypoint tests)."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import PolygonMasks

from yolokit.datasets.transforms.filter_annotations import FilterAnnotations
from yolokit.registry import TRANSFORMS


def _results(keypoints_cls=None):
    results = dict(
        gt_bboxes=HorizontalBoxes(
            torch.tensor([[0, 0, 10, 10], [0, 0, 1, 5], [2, 2, 8, 3.5],
                          [0, 0, 4, 4]])),
        gt_bboxes_labels=np.array([0, 1, 2, 3], np.int64),
        gt_ignore_flags=np.zeros(4, bool))
    if keypoints_cls is not None:
        results['gt_keypoints'] = keypoints_cls(
            np.zeros((4, 2, 2)), [[1, 0], [1, 1], [1, 1], [0, 0]], [1, 0])
    return results


def test_by_box_keeps_boxes_larger_than_min_wh():
    # widths 10, 1, 6, 4; heights 10, 5, 1.5, 4; strict > (1, 1) drops #1.
    out = FilterAnnotations().transform(_results())
    assert out['gt_bboxes_labels'].tolist() == [0, 2, 3]
    assert len(out['gt_bboxes']) == 3
    assert len(out['gt_ignore_flags']) == 3
    # min (2, 2) also drops #2 (height 1.5).
    out = FilterAnnotations(min_gt_bbox_wh=(2, 2)).transform(_results())
    assert out['gt_bboxes_labels'].tolist() == [0, 3]


def test_by_keypoints_requires_a_visible_keypoint(keypoints_cls):
    out = FilterAnnotations(by_keypoints=True).transform(
        _results(keypoints_cls))
    # box test drops #1, keypoint test drops #3 (no visible keypoint).
    assert out['gt_bboxes_labels'].tolist() == [0, 2]
    assert out['gt_keypoints'].keypoints_visible.tolist() == [[1, 0], [1, 1]]
    with pytest.raises(KeyError, match='gt_keypoints'):
        FilterAnnotations(by_keypoints=True).transform(_results())


def test_by_mask_uses_mask_area():
    results = _results()
    square = np.array([0., 0, 10, 0, 10, 10, 0, 10])
    empty = np.array([0., 0, 0, 0, 0, 0])
    results['gt_masks'] = PolygonMasks([[square], [square], [empty], [square]],
                                       20, 20)
    out = FilterAnnotations(by_box=False, by_mask=True).transform(results)
    assert out['gt_bboxes_labels'].tolist() == [0, 1, 3]
    assert len(out['gt_masks']) == 3


def test_nothing_left_returns_none_only_with_keep_empty():
    results = _results()
    assert FilterAnnotations(min_gt_bbox_wh=(50,
                                             50)).transform(results) is None
    out = FilterAnnotations(
        min_gt_bbox_wh=(50, 50), keep_empty=False).transform(_results())
    assert len(out['gt_bboxes']) == 0


def test_numpy_boxes_and_empty_input():
    results = _results()
    results['gt_bboxes'] = results['gt_bboxes'].numpy()
    out = FilterAnnotations().transform(results)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32
    assert out['gt_bboxes'].shape == (3, 4)

    empty = dict(gt_bboxes=np.zeros((0, 4), np.float32))
    assert FilterAnnotations().transform(empty) is empty
    with pytest.raises(KeyError, match='gt_bboxes'):
        FilterAnnotations().transform(dict())


def test_registered():
    assert TRANSFORMS.get('FilterAnnotations') is FilterAnnotations
