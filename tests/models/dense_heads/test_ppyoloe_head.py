"""PPYOLOEHead: defaults (spec 06 section 3.5), the bin-logit layout, the
normaliser, the two assignment phases, a DFL value worked out by hand, and
post-processing.

Exact agreement with MMYOLO 0.6.0 on a whole detector is checked in
``tests/models/test_ppyoloe_mmyolo_parity.py``.
"""
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from yolokit.models.dense_heads import PPYOLOEHead, YOLOv6Head
from yolokit.models.dense_heads.ppyoloe_head import (flatten_distributions,
                                                     global_score_norm)
from yolokit.registry import MODELS

STRIDES = (8, 16, 32)
CHANNELS = 16


def build_head(num_classes=3, initial_epoch=2, reg_max=16, **kwargs):
    return MODELS.build(
        dict(
            type='PPYOLOEHead',
            head_module=dict(
                type='PPYOLOEHeadModule',
                num_classes=num_classes,
                in_channels=[CHANNELS] * 3,
                featmap_strides=list(STRIDES),
                reg_max=reg_max),
            train_cfg=dict(
                initial_epoch=initial_epoch,
                initial_assigner=dict(
                    type='BatchATSSAssigner',
                    num_classes=num_classes,
                    topk=9,
                    iou_calculator=dict(type='mmdet.BboxOverlaps2D')),
                assigner=dict(
                    type='BatchTaskAlignedAssigner',
                    num_classes=num_classes,
                    topk=13,
                    alpha=1,
                    beta=6,
                    eps=1e-9)),
            test_cfg=dict(
                multi_label=True,
                nms_pre=1000,
                score_thr=0.01,
                nms=dict(type='nms', iou_threshold=0.7),
                max_per_img=300),
            **kwargs))


def features(batch=2, size=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, CHANNELS, size // s, size // s, generator=g)
        for s in STRIDES)


def gts(batch=2):
    boxes = [[0., 0., 128., 128.], [16., 24., 80., 100.]]
    return [
        InstanceData(
            bboxes=torch.tensor(boxes[i:i + 1]), labels=torch.tensor([i % 3]))
        for i in range(batch)
    ]


def metas(batch=2, size=128):
    return [
        dict(
            img_shape=(size, size),
            ori_shape=(size, size),
            scale_factor=(1., 1.),
            batch_input_shape=(size, size)) for _ in range(batch)
    ]


@pytest.fixture
def epoch():
    hub = MessageHub.get_current_instance()
    previous = hub.get_info('epoch')
    yield lambda value: hub.update_info('epoch', value)
    hub.update_info('epoch', previous)


def test_defaults_follow_the_spec():
    head = build_head()
    assert isinstance(head, YOLOv6Head)  # as MMYOLO's class hierarchy
    assert head.loss_obj is None
    assert type(head.loss_cls).__name__ == 'VarifocalLoss'
    assert (head.loss_cls.alpha, head.loss_cls.gamma,
            head.loss_cls.iou_weighted) == (0.75, 2.0, True)
    assert head.loss_bbox.iou_mode == 'giou'
    assert head.loss_bbox.loss_weight == 2.5
    assert type(head.loss_dfl).__name__ == 'DistributionFocalLoss'
    assert head.loss_dfl.loss_weight == 0.125  # 0.5 / 4
    assert head.initial_epoch == 2
    # MMYOLO's module order (checkpoints, optimizer states)
    names = [n for n, _ in head.named_children()]
    assert names == [
        'head_module', 'loss_cls', 'loss_bbox', 'initial_assigner',
        'assigner', 'loss_dfl'
    ]


def test_flatten_distributions_keeps_each_priors_bins():
    # value 100 * prior + 10 * side + bin at (b, prior, side, bin): every
    # flat row must hold its own prior's 4 x 3 bins, side-major
    num_bins = 3
    level = torch.zeros(1, 2, 4, num_bins)
    for p in range(2):
        for s in range(4):
            for r in range(num_bins):
                level[0, p, s, r] = 100 * p + 10 * s + r
    other = level + 200  # a second level of 2 priors: priors 2 and 3
    flat = flatten_distributions([level, other], num_bins)
    assert flat.shape == (1, 4, 12)
    assert flat[0, 1].tolist() == [
        100., 101., 102., 110., 111., 112., 120., 121., 122., 130., 131.,
        132.
    ]
    assert flat[0, 3, :3].tolist() == [300., 301., 302.]


def test_flatten_distributions_rejects_other_layouts():
    # MMYOLO's docstring layout (B, R + 1, H * W, 4) is not accepted
    with pytest.raises(ValueError, match=r'bbox_dist_preds\[0\]'):
        flatten_distributions([torch.zeros(1, 17, 6, 4)], 17)


def test_global_score_norm_by_hand():
    # single process: reduce_mean is the identity; 0.1 + 0.3 = 0.4 -> 1
    assert global_score_norm(torch.tensor([[0.1, 0.3]])).item() == 1.0
    assert global_score_norm(torch.tensor([[1.5], [1.0]])).item() == 2.5


@pytest.mark.parametrize('phase_epoch, used', [(0, 'initial_assigner'),
                                               (1, 'initial_assigner'),
                                               (2, 'assigner')])
def test_epoch_selects_the_assigner(epoch, monkeypatch, phase_epoch, used):
    head = build_head(initial_epoch=2)
    calls = []
    for name in ('initial_assigner', 'assigner'):
        real = getattr(head, name).forward

        def spy(*args, _name=name, _real=real, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(getattr(head, name), 'forward', spy)
    epoch(phase_epoch)
    head.train()
    losses = head.loss_by_feat(*head(features()), gts(), metas())
    assert calls == [used]
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), key
        assert value > 0, key


def test_dfl_of_uniform_bins_by_hand(epoch):
    # init_weights gives every bin logit the same value (kernel 0, bias 1),
    # so each side's softmax is uniform over R + 1 = 17 bins and its DFL is
    # -log(1/17) = log 17 whatever the target (the weights of the two
    # neighbour bins sum to 1). mmdet sums the 4 sides of each foreground
    # prior, weighted by the prior's summed soft target, and divides by
    # avg_factor S = max(sum t, 1):
    #   loss_dfl = 0.125 * 4 * log 17 * sum(t) / max(sum(t), 1)
    # Here sum(t) < 1 (few positives, IoU-scaled), so S is clamped to 1.
    head = build_head(initial_epoch=1)
    head.head_module.init_weights()
    epoch(0)
    head.train()
    outs = head(features())
    losses = head.loss_by_feat(*outs, gts(), metas())

    # sum(t) from the warm-up assigner itself; every distance is the
    # uniform mean, 8 strides per side
    flat = head.prior_cache([o.shape[2:] for o in outs[0]],
                            torch.float32,
                            torch.device('cpu'),
                            with_stride=True)
    boxes = head.bbox_coder.decode(flat.priors[:, :2],
                                   torch.full((2, 336, 4), 8.),
                                   flat.strides)
    result = head.initial_assigner(
        boxes, flat.priors, [256, 64, 16],  # 16 x 16, 8 x 8, 4 x 4
        torch.tensor([[[0.]], [[1.]]]),
        torch.stack([g.bboxes for g in gts()]), torch.ones(2, 1, 1))
    score_sum = result['assigned_scores'].sum()
    assert 0 < score_sum < 1
    torch.testing.assert_close(losses['loss_dfl'],
                               0.5 * math.log(17) * score_sum)


def test_no_gt_gives_graph_keeping_zeros(epoch):
    head = build_head(initial_epoch=0)  # TAL from the start
    epoch(0)
    head.train()
    empty = [
        InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
        for _ in range(2)
    ]
    losses = head.loss_by_feat(*head(features()), empty, metas())
    assert losses['loss_bbox'] == 0 and losses['loss_dfl'] == 0
    assert losses['loss_cls'] > 0  # every prior is a negative
    sum(losses.values()).backward()
    # the zero terms still reach the regression branch (DDP needs it)
    assert all(p.grad is not None for p in head.head_module.reg_preds.parameters())


def test_fast_tensor_gt_equals_instances(epoch):
    head = build_head(initial_epoch=0)
    epoch(0)
    head.train()
    outs = head(features())
    rows = torch.tensor([[0, 0, 0., 0., 128., 128.],
                         [1, 1, 16., 24., 80., 100.]])
    by_rows = head.loss_by_feat(*outs, rows, metas())
    by_instances = head.loss_by_feat(*outs, gts(), metas())
    for key in by_rows:
        torch.testing.assert_close(by_rows[key], by_instances[key])


def test_input_errors():
    head = build_head()
    head.train()
    cls, box, dist = head(features())
    with pytest.raises(ValueError, match='one entry per level'):
        head.loss_by_feat(cls, box, dist[:2], gts(), metas())
    with pytest.raises(ValueError, match='reg_max'):
        small = build_head(reg_max=1)
        small.train()
        small.loss_by_feat(*small(features()), gts(), metas())
    untrained = MODELS.build(
        dict(
            type='PPYOLOEHead',
            head_module=dict(
                type='PPYOLOEHeadModule',
                num_classes=3,
                in_channels=[CHANNELS] * 3)))
    untrained.train()
    with pytest.raises(RuntimeError, match='train_cfg'):
        untrained.loss_by_feat(*untrained(features()), gts(), metas())


def test_predict_shapes_and_limits():
    head = build_head()
    head.eval()
    with torch.no_grad():
        cls, box = head(features(batch=1, size=96))
        assert [c.shape for c in cls] == [(1, 3, 12, 12), (1, 3, 6, 6),
                                          (1, 3, 3, 3)]
        assert [b.shape for b in box] == [(1, 4, 12, 12), (1, 4, 6, 6),
                                          (1, 4, 3, 3)]
        meta = dict(
            img_shape=(96, 96),
            ori_shape=(48, 64),
            scale_factor=(96 / 64, 96 / 48))
        dets, = head.predict_by_feat(cls, box, batch_img_metas=[meta])
    assert 0 < len(dets) <= 300
    assert (dets.scores >= 0.01).all()
    assert dets.bboxes[:, 0::2].min() >= 0 and dets.bboxes[:, 0::2].max() <= 64
    assert dets.bboxes[:, 1::2].min() >= 0 and dets.bboxes[:, 1::2].max() <= 48
