"""Helpers of the batched assigners, against hand computations and
torchvision's ``box_iou``."""
import pytest
import torch
from torchvision.ops import box_iou

from yolokit.models.task_modules.assigners import (select_candidates_in_gts,
                                                   select_highest_overlaps,
                                                   yolov6_iou_calculator)


def test_select_candidates_in_gts_by_hand():
    # GT [0, 0, 20, 10]: (5, 5) is inside; (20, 5) lies on the right border
    # and (25, 5) outside, so both are out (strictly inside only).
    priors = torch.tensor([[5., 5.], [20., 5.], [25., 5.], [10., 0.]])
    gts = torch.tensor([[[0., 0., 20., 10.], [15., 0., 30., 10.]]])
    mask = select_candidates_in_gts(priors, gts)
    assert mask.shape == (1, 2, 4)
    assert mask.dtype == gts.dtype
    assert mask.tolist() == [[[1., 0., 0., 0.], [0., 1., 1., 0.]]]


def test_select_candidates_in_gts_rejects_bad_shapes():
    with pytest.raises(ValueError, match='priors_points'):
        select_candidates_in_gts(torch.zeros(3, 4), torch.zeros(1, 1, 4))
    with pytest.raises(ValueError, match='gt_bboxes'):
        select_candidates_in_gts(torch.zeros(3, 2), torch.zeros(1, 4))


def test_select_highest_overlaps_keeps_the_best_gt():
    # prior 1 is claimed by both GTs; GT 1 overlaps it more.
    pos_mask = torch.tensor([[[1., 1., 0.], [0., 1., 1.]]])
    overlaps = torch.tensor([[[0.9, 0.3, 0.0], [0.1, 0.6, 0.8]]])
    gt_idx, fg, cleaned = select_highest_overlaps(pos_mask, overlaps, 2)
    assert cleaned.tolist() == [[[1., 0., 0.], [0., 1., 1.]]]
    assert fg.tolist() == [[1., 1., 1.]]
    assert gt_idx.tolist() == [[0, 1, 1]]


def test_select_highest_overlaps_without_conflict_is_unchanged():
    pos_mask = torch.tensor([[[1., 0., 0.], [0., 0., 1.]]])
    overlaps = torch.rand(1, 2, 3)
    gt_idx, fg, cleaned = select_highest_overlaps(pos_mask, overlaps, 2)
    assert torch.equal(cleaned, pos_mask)
    assert fg.tolist() == [[1., 0., 1.]]
    assert gt_idx[0, 0] == 0 and gt_idx[0, 2] == 1


def test_yolov6_iou_calculator_matches_torchvision():
    torch.manual_seed(0)
    xy = torch.rand(2, 5, 2) * 50
    b1 = torch.cat([xy, xy + torch.rand(2, 5, 2) * 30 + 1], -1)
    xy = torch.rand(2, 7, 2) * 50
    b2 = torch.cat([xy, xy + torch.rand(2, 7, 2) * 30 + 1], -1)
    ious = yolov6_iou_calculator(b1, b2)
    assert ious.shape == (2, 5, 7)
    for i in range(2):
        torch.testing.assert_close(
            ious[i], box_iou(b1[i], b2[i]), atol=1e-6, rtol=1e-5)


def test_yolov6_iou_calculator_by_hand():
    # [0,0,2,2] vs [1,1,3,3]: intersection 1, union 7.
    iou = yolov6_iou_calculator(
        torch.tensor([[[0., 0., 2., 2.]]]), torch.tensor([[[1., 1., 3., 3.]]]))
    assert iou.item() == pytest.approx(1 / 7)
