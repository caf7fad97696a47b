"""IoULoss: registry build, reductions, weights, return_iou."""
import pytest
import torch
from torchvision.ops import complete_box_iou, generalized_box_iou

from yolokit.models.losses import IoULoss
from yolokit.registry import MODELS
from yolokit.testing import rand_bboxes


def _pairs(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = rand_bboxes(n, 60, 60, generator=g).double()
    target = rand_bboxes(n, 60, 60, generator=g).double()
    return pred, target


def test_build_with_yolov5_config():
    # the loss_bbox of the YOLOv5 configs (spec 02 section 1.4)
    loss = MODELS.build(
        dict(
            type='IoULoss',
            iou_mode='ciou',
            bbox_format='xywh',
            eps=1e-7,
            reduction='mean',
            loss_weight=0.05,
            return_iou=True))
    assert isinstance(loss, IoULoss)
    assert (loss.iou_mode, loss.bbox_format, loss.eps, loss.reduction,
            loss.loss_weight, loss.return_iou) == ('ciou', 'xywh', 1e-7,
                                                   'mean', 0.05, True)


def test_defaults():
    loss = IoULoss()
    assert (loss.iou_mode, loss.bbox_format, loss.eps, loss.reduction,
            loss.loss_weight, loss.return_iou) == ('ciou', 'xywh', 1e-7,
                                                   'mean', 1.0, True)


def test_mean_loss_and_iou_against_torchvision_ciou():
    pred, target = _pairs()
    loss, iou = IoULoss(bbox_format='xyxy', loss_weight=0.05)(pred, target)
    expected_iou = complete_box_iou(pred, target).diagonal()
    torch.testing.assert_close(iou, expected_iou, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        loss, 0.05 * (1 - expected_iou).mean(), rtol=1e-6, atol=1e-7)


def test_giou_mode_against_torchvision():
    pred, target = _pairs(seed=1)
    loss, iou = IoULoss(
        iou_mode='giou', bbox_format='xyxy', reduction='sum')(pred, target)
    expected = generalized_box_iou(pred, target).diagonal()
    torch.testing.assert_close(
        loss, (1 - expected).sum(), rtol=1e-6, atol=1e-6)


def test_reductions_weights_and_avg_factor():
    pred, target = _pairs(seed=2)
    loss_fn = IoULoss(bbox_format='xyxy', loss_weight=2.0)
    _, iou = loss_fn(pred, target)
    per_box = 1 - iou

    none, _ = loss_fn(pred, target, reduction_override='none')
    torch.testing.assert_close(none, 2.0 * per_box)
    total, _ = loss_fn(pred, target, reduction_override='sum')
    torch.testing.assert_close(total, 2.0 * per_box.sum())

    weight = torch.linspace(0, 1, len(pred), dtype=pred.dtype)
    weighted, _ = loss_fn(pred, target, weight=weight)
    torch.testing.assert_close(weighted, 2.0 * (per_box * weight).mean())
    # an (n, 4) weight is averaged over its last dimension
    weighted4, _ = loss_fn(pred, target, weight=weight[:, None].repeat(1, 4))
    torch.testing.assert_close(weighted4, weighted)

    averaged, _ = loss_fn(pred, target, weight=weight, avg_factor=5.0)
    torch.testing.assert_close(
        averaged, 2.0 * (per_box * weight).sum() / 5.0, rtol=1e-6, atol=0)


def test_all_zero_weight_returns_zero_loss_only():
    pred, target = _pairs(seed=3)
    pred.requires_grad_()
    out = IoULoss(bbox_format='xyxy')(
        pred, target, weight=torch.zeros(len(pred), dtype=pred.dtype))
    assert isinstance(out, torch.Tensor)
    assert out.item() == 0
    out.backward()  # still part of the graph
    assert torch.all(pred.grad == 0)


def test_return_iou_false_returns_loss_only():
    pred, target = _pairs(seed=4)
    out = IoULoss(bbox_format='xyxy', return_iou=False)(pred, target)
    assert isinstance(out, torch.Tensor) and out.dim() == 0


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match='iou_mode'):
        IoULoss(iou_mode='iou')  # plain IoU is not a loss mode
    with pytest.raises(ValueError, match='bbox_format'):
        IoULoss(bbox_format='cxcywh')
    with pytest.raises(ValueError, match='reduction'):
        IoULoss(reduction='avg')
    pred, target = _pairs(seed=5)
    with pytest.raises(ValueError, match='reduction_override'):
        IoULoss()(pred, target, reduction_override='avg')
