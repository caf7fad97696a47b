"""YOLOv8Head: loss definitions (spec 02 section 4.3, 06 section 3.6),
hand-computed values, parity with the Ultralytics detection loss, and
post-processing.

Reference for the parity tests: ``ultralytics.utils.loss.v8DetectionLoss``
(the package's YOLOv8 training loss). It returns ``(loss * batch_size,
loss.detach())`` with ``loss = (box, cls, dfl)`` after the gains 7.5, 0.5
and 1.5; yolokit returns the same three terms, each already multiplied by
the batch size (and world size), so ``loss_bbox, loss_cls, loss_dfl`` equal
the first return value element-wise.
"""
import math
import types

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from yolokit.models.dense_heads import YOLOv8Head
from yolokit.models.task_modules.assigners import (BatchTaskAlignedAssigner,
                                                   select_candidates_in_gts)
from yolokit.registry import MODELS

STRIDES = (8, 16, 32)


def build_head(num_classes=3, in_channels=(16, 16, 16), **kwargs):
    return MODELS.build(
        dict(
            type='YOLOv8Head',
            head_module=dict(
                type='YOLOv8HeadModule',
                num_classes=num_classes,
                in_channels=list(in_channels),
                featmap_strides=list(STRIDES)),
            train_cfg=dict(
                assigner=dict(
                    type='BatchTaskAlignedAssigner',
                    num_classes=num_classes,
                    use_ciou=True,
                    topk=10,
                    alpha=0.5,
                    beta=6.0,
                    eps=1e-9)),
            test_cfg=dict(
                multi_label=True,
                nms_pre=30000,
                score_thr=0.001,
                nms=dict(type='nms', iou_threshold=0.7),
                max_per_img=300),
            **kwargs))


def raw_outputs(num_classes, batch, h, w, seed=3):
    """Random per-level class logits and distance logits (B, 64, H, W)."""
    g = torch.Generator().manual_seed(seed)
    cls = [(torch.randn(batch, num_classes, h // s, w // s, generator=g) -
            2).requires_grad_() for s in STRIDES]
    dist = [(torch.randn(batch, 64, h // s, w // s, generator=g) *
             2).requires_grad_() for s in STRIDES]
    return cls, dist


def head_outputs(head, cls, dist):
    """Run the head module's output transform on given raw logits."""
    module = head.head_module.train()
    outs = [
        module.forward_single(
            torch.zeros(c.shape[0], 1, c.shape[2], c.shape[3]),
            lambda _, c=c: c,
            lambda _, d=d: d) for c, d in zip(cls, dist)
    ]
    return tuple(zip(*outs))


def test_default_losses_match_the_spec():
    head = build_head()
    assert isinstance(head, YOLOv8Head)
    assert head.loss_obj is None
    assert 'loss_obj' not in dict(head.named_children())
    assert isinstance(head.assigner, BatchTaskAlignedAssigner)
    assert head.loss_cls.use_sigmoid and head.loss_cls.reduction == 'none'
    assert head.loss_cls.loss_weight == 0.5
    assert (head.loss_bbox.iou_mode, head.loss_bbox.bbox_format,
            head.loss_bbox.reduction, head.loss_bbox.loss_weight,
            head.loss_bbox.return_iou) == ('ciou', 'xyxy', 'sum', 7.5, False)
    assert head.loss_dfl.reduction == 'mean'
    assert head.loss_dfl.loss_weight == pytest.approx(1.5 / 4)
    assert head.prior_generator.offset == 0.5
    assert head.prior_generator.strides == [(s, s) for s in STRIDES]
    assert type(head.bbox_coder).__name__ == 'DistancePointBBoxCoder'
    # without train_cfg there is no assigner and the loss says why
    head = MODELS.build(
        dict(
            type='YOLOv8Head',
            head_module=dict(
                type='YOLOv8HeadModule', num_classes=2, in_channels=8)))
    assert not hasattr(head, 'assigner')
    with pytest.raises(RuntimeError, match='assigner'):
        head.loss_by_feat([], [], [], torch.zeros(0, 6), [])


def test_dfl_module_matches_the_gfl_formula_by_hand():
    """DFL(p, y) = -((y_r - y) log p_l + (y - y_l) log p_r), y_l = floor(y),
    y_r = y_l + 1 (Generalized Focal Loss, arXiv 2006.04388).

    Bins with probabilities (0.1, 0.2, 0.3, 0.4) and target 1.25:
    0.75 * -log(0.2) + 0.25 * -log(0.3) = 1.50806; times 1.5 / 4.
    """
    head = build_head()
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]]))
    expected = (0.75 * -math.log(0.2) + 0.25 * -math.log(0.3)) * 1.5 / 4
    loss = head.loss_dfl(logits, torch.tensor([1.25]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # uniform bins: log(4) whatever the fractional position
    loss = head.loss_dfl(torch.zeros(2, 4), torch.tensor([0.5, 2.9]))
    assert loss.item() == pytest.approx(math.log(4) * 1.5 / 4, rel=1e-6)


def test_empty_gt_loss_by_hand():
    """No GT: every class target is 0, the soft-target sum is clamped to 1,
    so loss_cls = 0.5 * sum(softplus(logits)) * batch_size, and the box and
    DFL losses are zeros that keep the graph."""
    head = build_head(num_classes=2)
    cls, dist = raw_outputs(2, batch=2, h=64, w=64)
    cls_scores, bbox_preds, dist_preds = head_outputs(head, cls, dist)
    losses = head.loss_by_feat(cls_scores, bbox_preds, dist_preds,
                               torch.zeros(0, 6),
                               [dict(batch_input_shape=(64, 64))] * 2)
    expected_cls = 0.5 * sum(F.softplus(c).sum() for c in cls) * 2
    torch.testing.assert_close(losses['loss_cls'], expected_cls.detach())
    assert losses['loss_bbox'].item() == 0
    assert losses['loss_dfl'].item() == 0
    sum(losses.values()).backward()
    assert dist[0].grad is not None and cls[0].grad is not None


def test_instance_list_and_fast_tensor_agree():
    head = build_head()
    cls, dist = raw_outputs(3, batch=2, h=64, w=96)
    outs = head_outputs(head, cls, dist)
    fast = torch.tensor([[0, 0, 4., 4., 40., 36.], [0, 2, 50., 20., 90., 60.],
                         [1, 1, 40., 10., 70., 50.]])
    metas = [dict(batch_input_shape=(64, 96))] * 2
    from_tensor = head.loss_by_feat(*outs, fast, metas)
    instances = [
        InstanceData(
            bboxes=fast[fast[:, 0] == i, 2:],
            labels=fast[fast[:, 0] == i, 1].long()) for i in range(2)
    ]
    from_list = head.loss_by_feat(*outs, instances, metas)
    for key in ('loss_cls', 'loss_bbox', 'loss_dfl'):
        torch.testing.assert_close(from_list[key], from_tensor[key])
        assert from_tensor[key] > 0


# --------------------------------------------- parity with Ultralytics


def _ultralytics_loss(num_classes):
    tasks = pytest.importorskip('ultralytics.nn.tasks')
    loss_mod = pytest.importorskip('ultralytics.utils.loss')
    model = tasks.DetectionModel('yolov8n.yaml', nc=num_classes, verbose=False)
    # the YOLOv8 default gains (ultralytics/cfg/default.yaml)
    model.args = types.SimpleNamespace(box=7.5, cls=0.5, dfl=1.5)
    return loss_mod.v8DetectionLoss(model, tal_topk=10)


def _ultralytics_batch(gt, h, w):
    boxes = gt[:, 2:]
    xywh = torch.cat(
        [(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
    return dict(
        batch_idx=gt[:, 0],
        cls=gt[:, 1:2],
        bboxes=xywh / torch.tensor([w, h, w, h], dtype=torch.float))


def _ultralytics_preds(cls, dist):
    return dict(
        boxes=torch.cat([d.flatten(2) for d in dist], 2),
        scores=torch.cat([c.flatten(2) for c in cls], 2),
        feats=[torch.zeros(c.shape[0], 1, *c.shape[2:]) for c in cls])


class _InsideOnlyOverlapAssigner(BatchTaskAlignedAssigner):
    """Resolves multi-GT priors among the GTs that contain the prior, as
    Ultralytics >= 8.1 does (its overlaps are 0 elsewhere)."""

    def get_pos_mask(self, pred_bboxes, pred_scores, priors, gt_labels,
                     gt_bboxes, pad_bbox_flag, batch_size, num_gt):
        pos_mask, metrics, overlaps = super().get_pos_mask(
            pred_bboxes, pred_scores, priors, gt_labels, gt_bboxes,
            pad_bbox_flag, batch_size, num_gt)
        inside = select_candidates_in_gts(priors, gt_bboxes) * pad_bbox_flag
        return pos_mask, metrics, overlaps * inside


# Every GT side is >= 16 px: Ultralytics 8.4 enlarges smaller GTs to the
# middle stride before picking candidate priors, which YOLOv8 (and MMYOLO)
# never did.
SEPARATE_GTS = torch.tensor([[0, 0, 4., 4., 40., 36.],
                             [0, 2, 50., 20., 90., 60.],
                             [1, 1, 40., 10., 70., 50.]])
OVERLAPPING_GTS = torch.tensor([[0, 0, 10., 8., 50., 40.],
                                [0, 2, 30., 20., 90., 60.],
                                [0, 1, 2., 30., 40., 62.],
                                [1, 1, 40., 10., 70., 50.]])


def _compare_with_ultralytics(head, gt, h=64, w=96):
    criterion = _ultralytics_loss(head.num_classes)
    cls, dist = raw_outputs(head.num_classes, batch=2, h=h, w=w)
    outs = head_outputs(head, cls, dist)
    ours = head.loss_by_feat(*outs, gt, [dict(batch_input_shape=(h, w))] * 2)
    ours = torch.stack([ours['loss_bbox'], ours['loss_cls'], ours['loss_dfl']])
    theirs, items = criterion(
        _ultralytics_preds(cls, dist), _ultralytics_batch(gt, h, w))
    grads_ours = torch.autograd.grad(ours.sum(), cls + dist)
    grads_theirs = torch.autograd.grad(theirs.sum(), cls + dist)
    return ours, theirs, items, grads_ours, grads_theirs


def test_loss_equals_ultralytics_on_separate_gts():
    head = build_head()
    ours, theirs, items, g_ours, g_theirs = _compare_with_ultralytics(
        head, SEPARATE_GTS)
    assert (ours > 0).all()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    # Ultralytics' detached items are the per-image values
    torch.testing.assert_close(
        ours.detach(),
        2 * torch.stack(list(items.values())),
        rtol=1e-5,
        atol=1e-5)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_loss_on_overlapping_gts_differs_only_by_the_conflict_rule():
    """A prior claimed by two GTs goes to the GT with the highest CIoU over
    all GTs of the image in MMYOLO (the YOLOv8 release rule), but only among
    the GTs that contain it in current Ultralytics. With the latter rule the
    losses are identical; with yolokit's (MMYOLO's) rule they differ here."""
    head = build_head()
    ours, theirs, _, _, _ = _compare_with_ultralytics(head, OVERLAPPING_GTS)
    assert not torch.allclose(ours, theirs, rtol=1e-4)
    head.assigner = _InsideOnlyOverlapAssigner(
        num_classes=3, topk=10, alpha=0.5, beta=6.0, eps=1e-9, use_ciou=True)
    ours, theirs, _, g_ours, g_theirs = _compare_with_ultralytics(
        head, OVERLAPPING_GTS)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------ post-processing


def test_predict_by_feat_by_hand():
    """One confident prior: level 0 (stride 8), cell (1, 2) -> point
    (2.5 * 8, 1.5 * 8) = (20, 12); distances (1, 0.5, 2, 1) strides give
    [12, 8, 36, 20] on the 32 x 48 input, rescaled by scale_factor 2 and
    the (top, bottom, left, right) = (2, 2, 4, 4) padding:
    ([12, 8, 36, 20] - [4, 2, 4, 2]) / 2 = [4, 3, 16, 9]."""
    head = build_head(num_classes=2)
    cls_scores = [torch.full((1, 2, 32 // s, 48 // s), -20.) for s in STRIDES]
    bbox_preds = [torch.ones(1, 4, 32 // s, 48 // s) for s in STRIDES]
    cls_scores[0][0, 1, 1, 2] = 3.0
    bbox_preds[0][0, :, 1, 2] = torch.tensor([1., 0.5, 2., 1.])
    meta = dict(
        img_shape=(32, 48),
        ori_shape=(14, 20),
        scale_factor=(2., 2.),
        pad_param=[2., 2., 4., 4.],
        batch_input_shape=(32, 48))
    result, = head.predict_by_feat(
        cls_scores, bbox_preds, batch_img_metas=[meta], rescale=False)
    assert len(result) == 1
    assert result.labels.tolist() == [1]
    assert result.scores.item() == pytest.approx(1 / (1 + math.exp(-3)))
    assert result.bboxes.tolist() == [[12., 8., 36., 20.]]
    result, = head.predict_by_feat(
        cls_scores, bbox_preds, batch_img_metas=[meta], rescale=True)
    assert result.bboxes.tolist() == [[4., 3., 16., 9.]]


# ---------------------------------------------------------------------------
# the loss terms alone, by hand
# ---------------------------------------------------------------------------
def test_loss_terms_by_hand():
    from mmdet.models.losses import DistributionFocalLoss

    from yolokit.models.dense_heads.yolov8_head import (box_term, cls_term,
                                                        dfl_term)
    from yolokit.models.losses import IoULoss
    norm = torch.tensor(2.)
    # cls: BCE(0, 1) = BCE(0, 0) = ln 2 for the two entries -> 2 ln 2 / 2
    bce = MODELS.build(
        dict(
            type='mmdet.CrossEntropyLoss',
            use_sigmoid=True,
            reduction='none',
            loss_weight=1.0))
    got = cls_term(bce, torch.zeros(1, 1, 2), torch.tensor([[[1., 0.]]]),
                   norm)
    assert got.item() == pytest.approx(math.log(2))
    # box: IoU 0.5 (a 2x1 box inside the 2x2 box; the enclosing box is the
    # 2x2 one, so GIoU = IoU), weight 3: (1 - 0.5) * 3 / 2
    iou_loss = IoULoss(
        iou_mode='giou', bbox_format='xyxy', reduction='sum', return_iou=False)
    got = box_term(iou_loss, torch.tensor([[0., 0., 2., 1.]]),
                   torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[3.]]),
                   norm)
    assert got.item() == pytest.approx(0.75)
    # dfl with R = 2 bins and uniform logits: -ln(1/2) for every side
    # (the two neighbour terms sum to ln 2), each weighted 3, averaged by
    # the avg_factor norm = 2 over 4 sides: 4 * 3 * ln 2 / 2
    dfl = DistributionFocalLoss(reduction='mean', loss_weight=1.0)
    got = dfl_term(dfl, torch.zeros(1, 8), torch.full((1, 4), 0.3),
                   torch.tensor([[3.]]), norm, reg_max=2)
    assert got.item() == pytest.approx(4 * 3 * math.log(2) / 2)


def test_mmyolo_single_box_batch_of_one():
    """MMYOLO's own test input: one fast-tensor box for a batch of one,
    then a second row with image index 1 that is not in the batch."""
    head = build_head(num_classes=1)
    cls, dist = raw_outputs(1, batch=1, h=256, w=256)
    outs = head_outputs(head, cls, dist)
    metas = [dict(img_shape=(256, 256, 3), scale_factor=1)]
    one = torch.Tensor([[0., 0., 23.6667, 23.8757, 238.6326, 151.8874]])
    losses = head.loss_by_feat(*outs, one, metas)
    for value in losses.values():
        assert torch.isfinite(value) and value > 0
    two = torch.cat(
        [one, torch.Tensor([[1., 0., 24.6667, 27.8757, 28.6326, 51.8874]])])
    # the row of image 1 belongs to no image of the batch: same losses
    again = head.loss_by_feat(*outs, two, metas)
    for key in losses:
        torch.testing.assert_close(again[key], losses[key])
