"""bbox_overlaps against torchvision, MMDetection and hand computations."""
import math

import pytest
import torch
from torchvision.ops import (box_iou, complete_box_iou, complete_box_iou_loss,
                             generalized_box_iou)

from yolokit.models.losses import bbox_overlaps
from yolokit.testing import rand_bboxes


def _pairs(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = rand_bboxes(n, 50, 40, generator=g)
    # targets near the predictions, so the IoUs spread over (0, 1)
    target = pred + torch.randn(n, 4, generator=g) * 6
    top_left = torch.minimum(target[:, :2], target[:, 2:] - 1)
    bottom_right = torch.maximum(target[:, 2:], target[:, :2] + 1)
    target = torch.cat((top_left, bottom_right), dim=1)
    return pred.double(), target.double()


def _xyxy_to_cxcywh(b):
    return torch.stack(
        [(b[:, 0] + b[:, 2]) / 2,
         (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]],
        dim=1)


def test_iou_matches_torchvision():
    pred, target = _pairs()
    expected = box_iou(pred, target).diagonal()
    ours = bbox_overlaps(pred, target, iou_mode='iou', bbox_format='xyxy')
    assert ours.shape == (len(pred), )
    torch.testing.assert_close(ours, expected, rtol=1e-6, atol=1e-6)
    assert (expected > 0).sum() > 10 and (expected == 0).sum() > 0


def test_giou_matches_torchvision():
    pred, target = _pairs(seed=1)
    expected = generalized_box_iou(pred, target).diagonal()
    ours = bbox_overlaps(pred, target, iou_mode='giou', bbox_format='xyxy')
    torch.testing.assert_close(ours, expected, rtol=1e-6, atol=1e-6)


def test_ciou_matches_torchvision_value_and_gradient():
    # torchvision's alpha = v / (1 - iou + v + eps) is algebraically the
    # YOLOv5 form v / (v - iou + 1 + eps); both detach alpha.
    pred, target = _pairs(seed=2)
    expected = complete_box_iou(pred, target).diagonal()
    ours = bbox_overlaps(pred, target, iou_mode='ciou', bbox_format='xyxy')
    torch.testing.assert_close(ours, expected, rtol=1e-6, atol=1e-6)

    p1 = pred.clone().requires_grad_()
    p2 = pred.clone().requires_grad_()
    (1 - bbox_overlaps(p1, target, 'ciou', 'xyxy')).sum().backward()
    complete_box_iou_loss(p2, target, reduction='sum').backward()
    torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-5, atol=1e-6)


def test_ciou_differs_from_mmdet_gated_alpha_only_below_iou_half():
    # MMDetection's ciou_loss uses alpha = [IoU > 0.5] * v / (1 - IoU + v):
    # for IoU <= 0.5 it drops the aspect-ratio term, the YOLOv5 form keeps it.
    from mmdet.models.losses.iou_loss import ciou_loss
    pred, target = _pairs(seed=3)
    iou = box_iou(pred, target).diagonal()
    ours = bbox_overlaps(pred, target, 'ciou', 'xyxy')
    mmdet_ciou = 1 - ciou_loss(pred, target, reduction='none')
    high = iou > 0.5
    assert high.any() and (~high).any()
    torch.testing.assert_close(
        ours[high], mmdet_ciou[high], rtol=1e-5, atol=1e-5)
    w1, h1 = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1]
    w2, h2 = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1]
    v = 4 / math.pi**2 * (torch.atan(w2 / h2) - torch.atan(w1 / h1))**2
    alpha = v / (v - iou + 1)
    torch.testing.assert_close(
        ours[~high],
        mmdet_ciou[~high] - alpha[~high] * v[~high],
        rtol=1e-5,
        atol=1e-5)


@pytest.mark.parametrize('mode', ['iou', 'giou', 'ciou', 'siou'])
def test_xywh_is_centre_format(mode):
    pred, target = _pairs(seed=4)
    from_xyxy = bbox_overlaps(pred, target, mode, 'xyxy')
    from_xywh = bbox_overlaps(
        _xyxy_to_cxcywh(pred), _xyxy_to_cxcywh(target), mode, 'xywh')
    torch.testing.assert_close(from_xywh, from_xyxy)


def test_default_mode_is_ciou_on_xywh():
    pred, target = _pairs(seed=5)
    pred, target = _xyxy_to_cxcywh(pred), _xyxy_to_cxcywh(target)
    torch.testing.assert_close(
        bbox_overlaps(pred, target),
        bbox_overlaps(pred, target, iou_mode='ciou', bbox_format='xywh'))


def test_siou_hand_computed_angle_below_45_degrees():
    # pred (0,0)-(2,2): centre (1,1), 2x2; target (1,1)-(5,3): centre (3,2),
    # 4x2. Overlap 1x1, union 4 + 8 - 1 = 11.
    # sigma_cw = 2, sigma_ch = 1, sigma = sqrt(5): sin_alpha = 1/sqrt(5)
    # (<= sin 45deg, kept); angle cost = cos(2 asin(s) - pi/2)
    # = sin(2 asin(s)) = 2 s sqrt(1 - s^2) = 4/5; gamma = 2 - 4/5 = 1.2.
    # Enclosing box 5x3: rho_x = (2/5)^2, rho_y = (1/3)^2.
    # Shape: omega_w = |2 - 4| / 4 = 1/2, omega_h = 0.
    pred = torch.tensor([[0., 0., 2., 2.]], dtype=torch.float64)
    target = torch.tensor([[1., 1., 5., 3.]], dtype=torch.float64)
    gamma = 1.2
    distance = (1 - math.exp(-gamma * 0.16)) + (1 - math.exp(-gamma / 9))
    for theta in (4.0, 2.0):
        shape = (1 - math.exp(-0.5))**theta
        expected = 1 / 11 - (distance + shape) / 2
        ours = bbox_overlaps(pred, target, 'siou', 'xyxy', siou_theta=theta)
        assert ours.item() == pytest.approx(expected, abs=1e-6)


def test_siou_hand_computed_angle_above_45_degrees():
    # pred (0,0)-(2,2): centre (1,1); target (0.5,3)-(2.5,5): centre (1.5,4).
    # No overlap. sigma_cw = 0.5, sigma_ch = 3: sin_alpha = 3/sqrt(9.25) is
    # above sin 45deg, so sin_beta = 0.5/sqrt(9.25) is used:
    # angle cost = 2 * 0.5 * 3 / 9.25. Enclosing box 2.5x5:
    # rho_x = (0.5/2.5)^2 = 0.04, rho_y = (3/5)^2 = 0.36. Same sizes: no
    # shape cost.
    pred = torch.tensor([[0., 0., 2., 2.]], dtype=torch.float64)
    target = torch.tensor([[0.5, 3., 2.5, 5.]], dtype=torch.float64)
    gamma = 2 - 3 / 9.25
    distance = (1 - math.exp(-gamma * 0.04)) + (1 - math.exp(-gamma * 0.36))
    expected = 0 - distance / 2
    ours = bbox_overlaps(pred, target, 'siou', 'xyxy')
    assert ours.item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize('mode', ['iou', 'giou', 'ciou', 'siou'])
def test_identical_boxes_give_one(mode):
    boxes = torch.tensor([[3., 4., 10., 6.], [20., 20., 2., 8.]])
    ours = bbox_overlaps(boxes, boxes.clone(), mode, 'xywh')
    torch.testing.assert_close(ours, torch.ones(2), atol=1e-5, rtol=0)


def test_result_is_clamped_to_minus_one():
    # Tiny boxes far apart: centre distance ~ enclosing diagonal, so the
    # CIoU penalty is ~1, plus the aspect term of a wide vs a tall box.
    pred = torch.tensor([[0., 0., 1e-2, 1e-3]])
    target = torch.tensor([[100., 100., 100. + 1e-3, 100. + 1e-2]])
    assert bbox_overlaps(pred, target, 'ciou', 'xyxy').item() == -1.0
    giou = bbox_overlaps(pred, target, 'giou', 'xyxy')
    assert -1.0 <= giou.item() < -0.99


def test_leading_dimensions_are_kept():
    pred, target = _pairs(n=6, seed=6)
    ours = bbox_overlaps(
        pred.view(2, 3, 4), target.view(2, 3, 4), 'giou', 'xyxy')
    assert ours.shape == (2, 3)
    torch.testing.assert_close(
        ours.view(-1), bbox_overlaps(pred, target, 'giou', 'xyxy'))


def test_bad_arguments_are_rejected():
    boxes = torch.rand(2, 4)
    with pytest.raises(ValueError, match='iou_mode'):
        bbox_overlaps(boxes, boxes, iou_mode='diou')
    with pytest.raises(ValueError, match='bbox_format'):
        bbox_overlaps(boxes, boxes, bbox_format='cxcywh')
    with pytest.raises(ValueError, match='4 values'):
        bbox_overlaps(torch.rand(2, 5), torch.rand(2, 5))
