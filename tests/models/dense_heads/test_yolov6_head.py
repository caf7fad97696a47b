"""YOLOv6HeadModule and YOLOv6Head: shapes, the v3.0 distance
distribution, initial weights, both training phases and bad input.

References: the state_dict keys/shapes of ``spec/module_trees/yolov6``
(v2: 4 regression channels; v3-m/l: ``(reg_max + 1) * 4 = 68``), MMYOLO
0.6.0's ``YOLOv6HeadModule`` (``mmyolo_reference``) for the distribution
branch, and hand computations written out below. Whole-detector parity
with MMYOLO lives in ``tests/models/test_yolov6_mmyolo_parity.py``.
"""
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from yolokit.models.dense_heads import YOLOv6Head, YOLOv6HeadModule
from yolokit.models.dense_heads.yolov6_head import (current_epoch, iou_term,
                                                    varifocal_term)
from yolokit.registry import MODELS

STRIDES = (8, 16, 32)
NUM_CLASSES = 3


def module_cfg(reg_max=0, in_channels=(32, 64, 128), widen_factor=0.5):
    return dict(
        type='YOLOv6HeadModule',
        num_classes=NUM_CLASSES,
        in_channels=list(in_channels),
        widen_factor=widen_factor,
        reg_max=reg_max,
        featmap_strides=list(STRIDES))


def head_cfg(reg_max=0, **kwargs):
    return dict(
        type='YOLOv6Head',
        head_module=module_cfg(reg_max),
        train_cfg=dict(
            initial_epoch=4,
            initial_assigner=dict(
                type='BatchATSSAssigner',
                num_classes=NUM_CLASSES,
                topk=9,
                iou_calculator=dict(type='mmdet.BboxOverlaps2D')),
            assigner=dict(
                type='BatchTaskAlignedAssigner',
                num_classes=NUM_CLASSES,
                topk=13,
                alpha=1,
                beta=6)),
        test_cfg=dict(
            multi_label=True,
            nms_pre=30000,
            score_thr=0.001,
            nms=dict(type='nms', iou_threshold=0.65),
            max_per_img=300),
        **kwargs)


def features(batch=2, h=64, w=96, channels=(16, 32, 64), seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, c, h // s, w // s, generator=g)
        for c, s in zip(channels, STRIDES))


@pytest.fixture
def at_epoch():
    """Set MessageHub's ``epoch`` for one test and restore it after."""
    hub = MessageHub.get_current_instance()
    previous = hub.get_info('epoch')

    def set_epoch(epoch):
        hub.update_info('epoch', epoch)

    yield set_epoch
    hub.update_info('epoch', previous)


# ------------------------------------------------------------ head module


@pytest.mark.parametrize('reg_max,reg_channels', [(0, 4), (16, 68)])
def test_module_param_shapes_follow_the_module_trees(reg_max, reg_channels):
    # v2 n: reg_preds.0.weight (4, 32, 1, 1); v3 m: (68, 96, 1, 1) at
    # widen 0.75 of 128 -> 68 = (16 + 1) * 4 output channels
    module = MODELS.build(
        module_cfg(reg_max, in_channels=(128, 256, 512), widen_factor=0.75))
    assert module.in_channels == [96, 192, 384]
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert shapes['reg_preds.0.weight'] == (reg_channels, 96, 1, 1)
    assert shapes['cls_preds.2.weight'] == (NUM_CLASSES, 384, 1, 1)
    assert shapes['stems.1.conv.weight'] == (192, 192, 1, 1)
    assert shapes['cls_convs.0.conv.weight'] == (96, 96, 3, 3)
    # the bin values are rebuilt from reg_max, never saved
    assert 'proj' not in shapes
    assert hasattr(module, 'proj') == (reg_max > 1)


def test_module_truncates_widths_like_mmyolo():
    # int(c * widen_factor), no rounding up to a multiple of 8
    module = MODELS.build(
        module_cfg(in_channels=(100, 200, 300), widen_factor=0.25))
    assert module.in_channels == [25, 50, 75]


@pytest.mark.parametrize('reg_max', [0, 16])
def test_module_output_shapes(reg_max):
    module = MODELS.build(module_cfg(reg_max, widen_factor=0.5))
    x = features()
    module.eval()
    cls, boxes = module(x)
    for c, b, s in zip(cls, boxes, STRIDES):
        assert c.shape == (2, NUM_CLASSES, 64 // s, 96 // s)
        assert b.shape == (2, 4, 64 // s, 96 // s)
    module.train()
    cls, boxes, dist = module(x)
    for d, s in zip(dist, STRIDES):
        hw = (64 // s) * (96 // s)
        expected = (2, hw, 4, 17) if reg_max else (2, 4, 64 // s, 96 // s)
        assert d.shape == expected


def test_module_distribution_expectation_by_hand():
    # one position, all-zero logits except side 0: logits 0 everywhere but
    # bin 2 at log(3) -> p(2) = 3 / (16 + 3), others 1 / 19;
    # E = (sum_{r=0}^{16} r + 2 * 2) / 19 = (136 + 4) / 19
    module = MODELS.build(module_cfg(16)).eval()
    logits = torch.zeros(68)
    logits[2] = math.log(3.)
    conv = module.reg_preds[0]
    torch.nn.init.zeros_(conv.weight)
    with torch.no_grad():
        conv.bias.copy_(logits)
    x = tuple(torch.zeros(1, c, 8, 8) for c in module.in_channels)
    boxes = module(x)[1][0]
    assert boxes[0, 0, 0, 0].item() == pytest.approx(140 / 19, rel=1e-6)
    # sides 1-3 are uniform: E = 136 / 17 = 8
    assert boxes[0, 1:, 0, 0].tolist() == pytest.approx([8., 8., 8.])


def test_module_matches_mmyolo_with_distribution(mmyolo_reference):
    cfg = module_cfg(16)
    ours = MODELS.build(cfg)
    theirs = mmyolo_reference.build_model(cfg)
    state = {
        k: (torch.rand_like(v) +
            0.5 if 'running_var' in k else torch.randn_like(v) *
            0.1) if v.is_floating_point() else v
        for k, v in theirs.state_dict().items()
    }
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    x = features()
    for train in (True, False):
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            out_ours, out_theirs = ours(x), theirs(x)
        assert len(out_ours) == len(out_theirs) == (3 if train else 2)
        for a_levels, b_levels in zip(out_ours, out_theirs):
            for a, b in zip(a_levels, b_levels):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_module_init_weights():
    # zero weights; class bias -log((1 - 0.01) / 0.01) = -4.595, box bias 1
    module = MODELS.build(module_cfg(16))
    module.init_weights()
    for conv in module.cls_preds:
        assert conv.weight.abs().sum() == 0
        assert torch.allclose(conv.bias, torch.tensor(-math.log(99.)))
    for conv in module.reg_preds:
        assert conv.weight.abs().sum() == 0
        assert torch.all(conv.bias == 1.)


def test_module_bad_input():
    with pytest.raises(ValueError, match='in_channels'):
        MODELS.build(module_cfg(in_channels=(32, 64)))
    with pytest.raises(ValueError, match='reg_max'):
        MODELS.build(module_cfg(reg_max=-1))
    module = MODELS.build(module_cfg())
    with pytest.raises(ValueError, match='3 feature maps'):
        module(features()[:2])


# ------------------------------------------------------------ loss terms


def test_varifocal_term_normalises_only_positive_sums():

    class SumLoss(torch.nn.Module):

        def forward(self, pred, target):
            return (pred * target).sum()

    pred = torch.tensor([[1., 2.]])
    target = torch.tensor([[0.5, 0.25]])
    # (1 * 0.5 + 2 * 0.25) = 1.0, divided by norm 4 -> 0.25
    assert varifocal_term(SumLoss(), pred, target,
                          torch.tensor(4.)).item() == 0.25
    # norm 0 (no positive): the sum is left as it is
    assert varifocal_term(SumLoss(), pred, target,
                          torch.tensor(0.)).item() == 1.0


def test_iou_term_is_weighted_sum_over_norm():
    loss = MODELS.build(
        dict(
            type='IoULoss',
            iou_mode='giou',
            bbox_format='xyxy',
            reduction='mean',
            loss_weight=2.5,
            return_iou=False))
    # box 1 equals its target (loss 0); box 2 (0,0,2,2) vs (1,0,3,2):
    # IoU = 2 / 6, the enclosing box (0,0,3,2) has area 6 = the union,
    # so GIoU = 1/3 and the loss 2/3; weights 0.5 and 0.75, norm 2:
    # 2.5 * (0.5 * 0 + 0.75 * 2/3) / 2 = 0.625
    pred = torch.tensor([[0., 0., 1., 1.], [0., 0., 2., 2.]])
    target = torch.tensor([[0., 0., 1., 1.], [1., 0., 3., 2.]])
    weight = torch.tensor([[0.5], [0.75]])
    value = iou_term(loss, pred, target, weight, torch.tensor(2.))
    assert value.item() == pytest.approx(0.625, rel=1e-5)


def test_current_epoch_reads_the_message_hub(at_epoch):
    at_epoch(7)
    assert current_epoch() == 7
    at_epoch(None)
    assert current_epoch() == 0  # no runner: the warm-up phase


# ------------------------------------------------------------ head


@pytest.fixture(scope='module')
def head():
    head = MODELS.build(head_cfg())
    # MMYOLO's start (distances of 1 stride, so predicted boxes overlap the
    # GTs and ATSS's IoU-scaled targets are not all 0), plus small random
    # prediction weights so that the outputs depend on the features
    head.init_weights()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for conv in [*head.head_module.cls_preds, *head.head_module.reg_preds]:
            conv.weight.add_(torch.randn(conv.weight.shape, generator=g) * .01)
    return head


def test_head_defaults_match_mmyolo(head):
    assert isinstance(head, YOLOv6Head)
    assert isinstance(head.head_module, YOLOv6HeadModule)
    assert head.loss_obj is None
    assert type(head.loss_cls).__name__ == 'VarifocalLoss'
    assert (head.loss_cls.alpha, head.loss_cls.gamma,
            head.loss_cls.iou_weighted,
            head.loss_cls.reduction) == (0.75, 2.0, True, 'sum')
    assert (head.loss_bbox.iou_mode, head.loss_bbox.reduction,
            head.loss_bbox.loss_weight) == ('giou', 'mean', 2.5)
    assert head.initial_epoch == 4
    assert type(head.initial_assigner).__name__ == 'BatchATSSAssigner'
    assert type(head.assigner).__name__ == 'BatchTaskAlignedAssigner'


def _gts():
    return [
        InstanceData(
            bboxes=torch.tensor([[4., 6., 40., 50.], [50., 10., 90., 60.]]),
            labels=torch.tensor([0, 2])),
        InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long()),
    ]


METAS = [dict(img_shape=(64, 96), ori_shape=(64, 96), scale_factor=(1., 1.))
         ] * 2


@pytest.mark.parametrize('epoch', [0, 3, 4, 20])
def test_loss_runs_in_both_phases(head, at_epoch, epoch):
    at_epoch(epoch)
    calls = []
    for name in ('initial_assigner', 'assigner'):
        getattr(head, name).register_forward_hook(
            lambda *_, name=name: calls.append(name))
    try:
        head.train()
        x = tuple(f.requires_grad_() for f in features())
        losses = head.loss_by_feat(*head(x), _gts(), METAS)
    finally:
        for name in ('initial_assigner', 'assigner'):
            getattr(head, name)._forward_hooks.clear()
    # epochs 0-3 warm up with ATSS, from initial_epoch 4 on task-aligned
    assert calls == ['initial_assigner' if epoch < 4 else 'assigner']
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    for value in losses.values():
        assert value.dim() == 0 and torch.isfinite(value) and value > 0
    sum(losses.values()).backward()
    assert all(f.grad is not None for f in x)


def test_loss_without_any_gt_keeps_the_graph(head, at_epoch):
    at_epoch(10)
    head.train()
    x = tuple(f.requires_grad_() for f in features())
    empty = [
        InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
        for _ in range(2)
    ]
    losses = head.loss_by_feat(*head(x), empty, METAS)
    assert losses['loss_bbox'].item() == 0
    assert losses['loss_bbox'].requires_grad
    # no positives: every target is 0, so the Varifocal loss is
    # alpha * sigmoid(x) ** 2 * BCE(x, 0) summed (and not normalised)
    assert losses['loss_cls'] > 0


def test_loss_accepts_the_fast_tensor_layout(head, at_epoch):
    at_epoch(0)
    head.train()
    x = features()
    outs = head(x)
    from_instances = head.loss_by_feat(*outs, _gts(), METAS)
    rows = torch.tensor([[0., 0., 4., 6., 40., 50.],
                         [0., 2., 50., 10., 90., 60.]])
    from_rows = head.loss_by_feat(*outs, rows, METAS)
    for key in from_instances:
        torch.testing.assert_close(from_rows[key], from_instances[key])


def test_predict_shapes(head):
    head.eval()
    with torch.no_grad():
        dets = head.predict_by_feat(*head(features()), batch_img_metas=METAS)
    assert len(dets) == 2
    for d in dets:
        assert d.bboxes.shape[1:] == (4, ) and len(d) <= 300
        assert ((d.labels >= 0) & (d.labels < NUM_CLASSES)).all()


def test_bad_train_cfg_names_the_missing_key():
    cfg = head_cfg()
    del cfg['train_cfg']['initial_assigner']
    with pytest.raises(KeyError, match='initial_assigner'):
        MODELS.build(cfg)
    cfg = head_cfg()
    del cfg['train_cfg']['assigner']
    with pytest.raises(KeyError, match='assigner'):
        MODELS.build(cfg)


def test_loss_without_train_cfg_is_refused():
    cfg = head_cfg()
    cfg['train_cfg'] = None
    head = MODELS.build(cfg)
    head.train()
    with pytest.raises(RuntimeError, match='train_cfg'):
        head.loss_by_feat(*head(features()), _gts(), METAS)
