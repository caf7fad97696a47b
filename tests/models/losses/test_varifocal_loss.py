"""``mmdet.VarifocalLoss`` with YOLOv6's settings equals the paper formula.

YOLOv6 (configs/yolov6, MMYOLO's ``YOLOv6Head`` default) classifies with
``VarifocalLoss(use_sigmoid=True, alpha=0.75, gamma=2.0, iou_weighted=True,
reduction='sum', loss_weight=1.0)``. VarifocalNet (Zhang et al., CVPR 2021,
eq. 2), with p = sigmoid(logit) and the soft target q:

    VFL(p, q) = -q * (q * log(p) + (1 - q) * log(1 - p))   if q > 0
    VFL(p, q) = -alpha * p**gamma * log(1 - p)             if q = 0

The loss comes from mmdet, so this pins the settings yolokit relies on.
"""
import math

import pytest
import torch

from yolokit.registry import MODELS

YOLOV6_VFL = dict(
    type='mmdet.VarifocalLoss',
    use_sigmoid=True,
    alpha=0.75,
    gamma=2.0,
    iou_weighted=True,
    reduction='sum',
    loss_weight=1.0)


def test_yolov6_varifocal_loss_by_hand():
    # logits 0, ln 3, -ln 3 give p = 1/2, 3/4, 1/4
    logits = torch.tensor([[0., math.log(3.)], [-math.log(3.), 0.]])
    targets = torch.tensor([[0.8, 0.], [0., 0.5]])
    # (0, 0) p 1/2, q 0.8: -0.8 * (0.8 + 0.2) * ln(1/2) = 0.8 ln 2
    # (0, 1) p 3/4, q 0:   -0.75 * (3/4)^2 * ln(1/4)    = 0.421875 ln 4
    # (1, 0) p 1/4, q 0:   -0.75 * (1/4)^2 * ln(3/4)    = 0.046875 ln(4/3)
    # (1, 1) p 1/2, q 0.5: -0.5 * (0.5 + 0.5) * ln(1/2) = 0.5 ln 2
    expected = (0.8 * math.log(2) + 0.421875 * math.log(4) +
                0.046875 * math.log(4 / 3) + 0.5 * math.log(2))
    assert expected == pytest.approx(1.499420, abs=1e-6)
    loss = MODELS.build(YOLOV6_VFL)
    assert loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_negatives_are_down_weighted_by_alpha_and_p_squared():
    # a confident negative (p = 3/4) costs alpha * p^2 = 0.421875 times its
    # BCE; a positive of the same logit with q = 1 costs its full BCE
    loss = MODELS.build(YOLOV6_VFL)
    logit = torch.tensor([[math.log(3.)]])
    negative = loss(logit, torch.zeros(1, 1)).item()
    assert negative == pytest.approx(0.421875 * math.log(4), rel=1e-6)
    positive = loss(logit, torch.ones(1, 1)).item()
    assert positive == pytest.approx(-math.log(0.75), rel=1e-6)
