"""Element-wise IoU variants (IoU, GIoU, CIoU, SIoU) of paired boxes."""
import math

import torch
from torch import Tensor

IOU_MODES = ('iou', 'ciou', 'giou', 'siou')
BBOX_FORMATS = ('xyxy', 'xywh')


def _cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    centre, size = boxes.split((2, 2), dim=-1)
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)


def bbox_overlaps(pred: Tensor,
                  target: Tensor,
                  iou_mode: str = 'ciou',
                  bbox_format: str = 'xywh',
                  siou_theta: float = 4.0,
                  eps: float = 1e-7) -> Tensor:
    r"""Overlap of each predicted box with its paired target box.

    Unlike :func:`mmdet.structures.bbox.bbox_overlaps`, this is not a pairwise
    matrix: ``pred[i]`` is compared with ``target[i]`` only.

    CIoU follows "Enhancing Geometric Factors into Model Learning and
    Inference for Object Detection and Instance Segmentation"
    (arXiv 2005.03572) with YOLOv5's trade-off weight
    :math:`\alpha = v / (v - IoU + 1 + \epsilon)` for every pair.
    MMDetection's ``ciou_loss`` instead uses
    :math:`\alpha = [IoU > 0.5] \cdot v / (1 - IoU + v)`, i.e. it drops the
    aspect-ratio term for pairs with IoU <= 0.5. :math:`\alpha` carries no
    gradient. SIoU follows arXiv 2205.12740.

    Args:
        pred (Tensor): Predicted boxes, shape ``(..., 4)``.
        target (Tensor): Target boxes, same shape as ``pred``.
        iou_mode (str): One of ``'iou'``, ``'ciou'``, ``'giou'`` and
            ``'siou'``. Defaults to ``'ciou'``.
        bbox_format (str): ``'xyxy'`` for corners or ``'xywh'`` for
            (centre x, centre y, width, height). Defaults to ``'xywh'``.
        siou_theta (float): Exponent :math:`\theta` of the SIoU shape cost.
            Defaults to 4.0.
        eps (float): Small value that keeps divisions finite.
            Defaults to 1e-7.

    Returns:
        Tensor: The overlaps, shape ``pred.shape[:-1]``, clamped to
        ``[-1, 1]``.
    """
    if iou_mode not in IOU_MODES:
        raise ValueError(
            f'iou_mode must be one of {IOU_MODES}, but got {iou_mode!r}')
    if bbox_format not in BBOX_FORMATS:
        raise ValueError(f'bbox_format must be one of {BBOX_FORMATS}, but '
                         f'got {bbox_format!r}')
    if pred.size(-1) != 4 or target.size(-1) != 4:
        raise ValueError('pred and target must have 4 values in the last '
                         f'dimension, but got shapes {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}')
    if bbox_format == 'xywh':
        pred = _cxcywh_to_xyxy(pred)
        target = _cxcywh_to_xyxy(target)

    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)

    inter_w = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0)
    inter_h = (torch.min(py2, ty2) - torch.max(py1, ty1)).clamp(min=0)
    overlap = inter_w * inter_h

    pw, ph = px2 - px1, py2 - py1
    tw, th = tx2 - tx1, ty2 - ty1
    union = pw * ph + tw * th - overlap + eps
    ious = overlap / union
    if iou_mode == 'iou':
        return ious.clamp(min=-1.0, max=1.0)

    # Heights only ever appear as denominators / in ratios below.
    ph = ph + eps
    th = th + eps

    enclose_w = (torch.max(px2, tx2) - torch.min(px1, tx1)).clamp(min=0)
    enclose_h = (torch.max(py2, ty2) - torch.min(py1, ty1)).clamp(min=0)

    if iou_mode == 'giou':
        enclose_area = enclose_w * enclose_h + eps
        ious = ious - (enclose_area - union) / enclose_area

    elif iou_mode == 'ciou':
        diag2 = enclose_w**2 + enclose_h**2 + eps
        centre_dist2 = (((tx1 + tx2) - (px1 + px2))**2 + ((ty1 + ty2) -
                                                          (py1 + py2))**2) / 4
        v = (4 / math.pi**2) * (torch.atan(tw / th) - torch.atan(pw / ph))**2
        with torch.no_grad():
            alpha = v / (v - ious + (1 + eps))
        ious = ious - (centre_dist2 / diag2 + alpha * v)

    else:  # siou
        # centre offsets target - pred; eps keeps sigma > 0 for equal centres
        sigma_cw = (tx1 + tx2) / 2 - (px1 + px2) / 2 + eps
        sigma_ch = (ty1 + ty2) / 2 - (py1 + py2) / 2 + eps
        sigma = torch.sqrt(sigma_cw**2 + sigma_ch**2)
        sin_alpha = sigma_ch.abs() / sigma
        sin_beta = sigma_cw.abs() / sigma
        # measure the angle from whichever axis is closer (<= 45 degrees)
        sin_alpha = torch.where(sin_alpha <= math.sin(math.pi / 4), sin_alpha,
                                sin_beta)
        angle_cost = torch.cos(2 * torch.arcsin(sin_alpha) - math.pi / 2)

        gamma = 2 - angle_cost
        rho_x = (sigma_cw / enclose_w)**2
        rho_y = (sigma_ch / enclose_h)**2
        distance_cost = (1 - torch.exp(-gamma * rho_x)) + (
            1 - torch.exp(-gamma * rho_y))

        omega_w = (pw - tw).abs() / torch.max(pw, tw)
        omega_h = (ph - th).abs() / torch.max(ph, th)
        shape_cost = (1 - torch.exp(-omega_w))**siou_theta + (
            1 - torch.exp(-omega_h))**siou_theta

        ious = ious - (distance_cost + shape_cost) / 2

    return ious.clamp(min=-1.0, max=1.0)
