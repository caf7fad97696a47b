"""YOLOv5Head: assignment (spec worked example), losses, post-processing.

Golden values come from the spec (02-algorithms section 1.3/1.4/1.6, 06
section 3.1), from hand computations written out below, and from
torchvision's CIoU (whose alpha equals YOLOv5's, see test_bbox_overlaps).
"""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData
from torchvision.ops import complete_box_iou

import yolokit.models.dense_heads.yolov5_head as yolov5_head_file
import yolokit.models.utils.loss_terms as loss_terms_file
from yolokit.models.dense_heads import YOLOv5Head
from yolokit.models.dense_heads.yolov5_targets import (match_level,
                                                       normalized_gt_rows,
                                                       rows_per_prior)
from yolokit.registry import MODELS

COCO_ANCHORS = [[(10, 13), (16, 30), (33, 23)], [(30, 61), (62, 45),
                                                 (59, 119)],
                [(116, 90), (156, 198), (373, 326)]]
# spec worked example: P3 priors; the other levels never match it
EXAMPLE_ANCHORS = [[(15, 5), (24, 16), (16, 24)], [(1000, 1000)] * 3,
                   [(1000, 1000)] * 3]
OBJ_LEVEL_WEIGHTS = [4.0, 1.0, 0.4]


def loss_weights(num_classes, num_levels=3, img_size=640):
    """Loss weights of the v0.6.0 configs (spec 02 section 1.4)."""
    return dict(
        cls=0.5 * (num_classes / 80 * 3 / num_levels),
        bbox=0.05 * (3 / num_levels),
        obj=1.0 * ((img_size / 640)**2 * 3 / num_levels))


def build_head(num_classes=3,
               base_sizes=COCO_ANCHORS,
               test_cfg=None,
               in_channels=8,
               widen_factor=1.0,
               **kwargs):
    strides = [8, 16, 32]
    w = loss_weights(num_classes)
    cfg = dict(
        type='YOLOv5Head',
        head_module=dict(
            type='YOLOv5HeadModule',
            num_classes=num_classes,
            in_channels=[in_channels] *
            3 if isinstance(in_channels, int) else in_channels,
            widen_factor=widen_factor,
            featmap_strides=strides),
        prior_generator=dict(
            type='mmdet.YOLOAnchorGenerator',
            base_sizes=base_sizes,
            strides=strides),
        bbox_coder=dict(type='YOLOv5BBoxCoder'),
        loss_cls=dict(
            type='mmdet.CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=w['cls']),
        loss_bbox=dict(
            type='IoULoss',
            iou_mode='ciou',
            bbox_format='xywh',
            eps=1e-7,
            reduction='mean',
            loss_weight=w['bbox'],
            return_iou=True),
        loss_obj=dict(
            type='mmdet.CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=w['obj']),
        prior_match_thr=4.0,
        obj_level_weights=OBJ_LEVEL_WEIGHTS,
        test_cfg=test_cfg)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def raw_outputs(num_classes, img_size=64, batch=1, seed=0, scale=1.0):
    """Random head outputs (cls, bbox, obj) of a 3-level head."""
    g = torch.Generator().manual_seed(seed)
    outs = ([], [], [])
    for stride in (8, 16, 32):
        s = img_size // stride
        for lst, ch in zip(outs, (3 * num_classes, 12, 3)):
            lst.append((torch.randn(batch, ch, s, s, generator=g) *
                        scale).requires_grad_())
    return outs


def metas(batch, img_size=64):
    return [
        dict(
            batch_input_shape=(img_size, img_size),
            img_shape=(img_size, img_size),
            ori_shape=(img_size, img_size),
            scale_factor=(1.0, 1.0)) for _ in range(batch)
    ]


def gt(bboxes, labels):
    return InstanceData(
        bboxes=torch.tensor(bboxes, dtype=torch.float32).view(-1, 4),
        labels=torch.tensor(labels, dtype=torch.long))


def _tree(path, prefix):
    modules, params = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.split(maxsplit=2)
            if len(parts) != 3:
                continue
            kind, name, rest = parts
            if not (name == prefix or name.startswith(prefix + '.')):
                continue
            short = name[len(prefix) + 1:]
            if kind == 'module':
                modules[short] = rest.strip()
            elif kind == 'param':
                params[short] = tuple(
                    int(v) for v in rest.strip('()\n ').split(',') if v)
    return modules, params


# ---------------------------------------------------------------------------
# construction
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('fname, in_channels, strides, anchors', [
    ('yolov5_s-v61_syncbn_fast_8xb16-300e_coco.txt', [256, 512, 1024],
     [8, 16, 32], COCO_ANCHORS),
    ('yolov5_s-p6-v62_syncbn_fast_8xb16-300e_coco.txt', [256, 512, 768, 1024],
     [8, 16, 32, 64], [[(19, 27), (44, 40),
                        (38, 94)], [(96, 68), (86, 152), (180, 137)],
                       [(140, 301), (303, 264),
                        (238, 542)], [(436, 615), (739, 380), (925, 792)]]),
])
def test_modules_and_state_dict_match_mmyolo(module_trees_dir, fname,
                                             in_channels, strides, anchors):
    modules, params = _tree(
        osp.join(module_trees_dir, 'yolov5', fname), 'bbox_head')
    head = MODELS.build(
        dict(
            type='YOLOv5Head',
            head_module=dict(
                type='YOLOv5HeadModule',
                num_classes=80,
                in_channels=in_channels,
                widen_factor=0.5,
                featmap_strides=strides),
            prior_generator=dict(
                type='mmdet.YOLOAnchorGenerator',
                base_sizes=anchors,
                strides=strides),
            obj_level_weights=[4.0, 1.0, 0.25, 0.06]
            if len(strides) == 4 else [4.0, 1.0, 0.4]))
    got_modules = {
        name: type(m).__name__
        for name, m in head.named_modules() if name
    }
    expected_modules = {k: v for k, v in modules.items() if k}
    assert got_modules == expected_modules
    got_params = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert got_params == params  # buffers are not persistent


def test_special_init_buffers():
    head = build_head()
    strides = torch.tensor([8., 16., 32.])[:, None, None]
    torch.testing.assert_close(head.priors_base_sizes,
                               torch.tensor(COCO_ANCHORS).float() / strides)
    torch.testing.assert_close(
        head.grid_offset,
        torch.tensor([[[0., 0.]], [[1., 0.]], [[0., 1.]], [[-1., 0.]],
                      [[0., -1.]]]))
    torch.testing.assert_close(head.prior_inds, torch.tensor([[0.], [1.],
                                                              [2.]]))
    assert head.num_base_priors == 3 and head.num_levels == 3


def test_obj_level_weights_must_match_levels():
    with pytest.raises(ValueError, match='obj_level_weights'):
        build_head(obj_level_weights=[4.0, 1.0])


def test_warnings(monkeypatch):
    messages = []
    monkeypatch.setattr(yolov5_head_file, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    build_head(num_classes=3)
    assert messages == []
    build_head(num_classes=3, prior_match_thr=3.0)
    assert len(messages) == 1 and 'prior_match_thr' in messages[0]
    build_head(num_classes=1)
    assert len(messages) == 2 and 'num_classes == 1' in messages[1]


# ---------------------------------------------------------------------------
# assignment
# ---------------------------------------------------------------------------
def _positives(head, bboxes, img_size=64, level=0):
    rows = normalized_gt_rows([gt(bboxes, [0] * len(bboxes))],
                              metas(1, img_size))
    s = img_size // head.featmap_strides[level]
    return match_level(
        rows_per_prior(rows, head.prior_inds), head.priors_base_sizes[level],
        head.grid_offset, (s, s), head.prior_match_thr,
        head.near_neighbor_thr)


def test_spec_worked_example_assignment():
    # GT (cx, cy, w, h) = (26, 37, 36, 24) on the stride-8 level of a 64x64
    # input: centre (3.25, 4.625) in cell (3, 4). Prior (15, 5) fails
    # (24 / 5 = 4.8 > 4); (24, 16) and (16, 24) match. 3.25 is in the left
    # half (and > 1): left cell (2, 4); 4.625 is in the lower half
    # (8 - 4.625 = 3.375, fraction 0.375 < 0.5, and > 1): lower cell (3, 5).
    head = build_head(base_sizes=EXAMPLE_ANCHORS)
    targets = _positives(head, [[26 - 18, 37 - 12, 26 + 18, 37 + 12]])
    got = sorted(
        zip(targets.prior_inds.tolist(), targets.grid_x_inds.tolist(),
            targets.grid_y_inds.tolist()))
    assert got == sorted(
        (p, x, y) for p in (1, 2) for x, y in [(3, 4), (2, 4), (3, 5)])
    # regression targets: centre relative to each cell, size in grid units
    for p, x, y, box in zip(targets.prior_inds.tolist(),
                            targets.grid_x_inds.tolist(),
                            targets.grid_y_inds.tolist(),
                            targets.bbox_targets.tolist()):
        assert box == pytest.approx([3.25 - x, 4.625 - y, 4.5, 3.0])
    assert torch.all(targets.img_inds == 0)
    assert torch.all(targets.class_inds == 0)
    # order: centre cells first, then left, then lower (spec offset order)
    cells = list(
        zip(targets.grid_x_inds.tolist(), targets.grid_y_inds.tolist()))
    assert cells == [(3, 4)] * 2 + [(2, 4)] * 2 + [(3, 5)] * 2


@pytest.mark.parametrize(
    'cx, cy, expected_cells',
    [
        # neither half-border rule fires: fractions 0.75 / 0.6, and the
        # distances to the far border are 7.25 / 7.4 (fractions 0.25 / 0.4,
        # < 0.5, and > 1): right and lower neighbours
        (0.75, 0.6, {(0, 0), (1, 0), (0, 1)}),
        # fractions below 0.5 but centre not beyond the first cell: nothing
        # on the left/up; far-border distances 7.75 / 7.6: no right/lower
        (0.25, 0.4, {(0, 0)}),
        # 7.25: fraction 0.25 and > 1 -> left; 8 - 7.25 = 0.75 -> no right.
        # 6.6: fraction 0.6 -> no up; 8 - 6.6 = 1.4, fraction 0.4 -> lower
        (7.25, 6.6, {(7, 6), (6, 6), (7, 7)}),
        # 8 - 7.75 = 0.25 < 0.5 but not > 1 -> no right; 7.75 fraction 0.75
        (7.75, 3.5, {(7, 3)}),
    ])
def test_neighbour_rules(cx, cy, expected_cells):
    # one 8x8 prior per position, GT 8x8: matches with ratio 1
    head = build_head(base_sizes=[[(8, 8)] * 3, [(1000, 1000)] *
                                  3, [(1000, 1000)] * 3])
    x, y = cx * 8, cy * 8
    targets = _positives(head, [[x - 4, y - 4, x + 4, y + 4]])
    cells = sorted(
        zip(targets.grid_x_inds[targets.prior_inds == 0].tolist(),
            targets.grid_y_inds[targets.prior_inds == 0].tolist()))
    assert cells == sorted(expected_cells)  # and no cell twice


def test_shape_match_threshold():
    # prior 8x8, GT w/h ratio exactly at and just below 4
    head = build_head(base_sizes=[[(8, 8)] * 3, [(1000, 1000)] *
                                  3, [(1000, 1000)] * 3])
    assert _positives(head, [[16, 16, 48, 20]]) is None  # 32/8 = 4, 4/8
    assert _positives(head, [[16, 16, 47, 20]]) is not None  # 31/8, 1/2
    assert _positives(head, [[16, 16, 17, 20]]) is None  # 1/8 -> 8


# ---------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------
def test_loss_values_on_worked_example():
    """Every loss term recomputed by hand from the spec formulas."""
    nc = 3
    head = build_head(num_classes=nc, base_sizes=EXAMPLE_ANCHORS)
    cls_scores, bbox_preds, objectnesses = raw_outputs(nc, seed=1)
    box = [26 - 18, 37 - 12, 26 + 18, 37 + 12]
    losses = head.loss_by_feat(cls_scores, bbox_preds, objectnesses,
                               [gt([box], [1])], metas(1))
    assert set(losses) == {'loss_cls', 'loss_obj', 'loss_bbox'}

    positives = [(p, x, y) for p in (1, 2)
                 for x, y in [(3, 4), (2, 4), (3, 5)]]
    prior_wh = torch.tensor([[15., 5.], [24., 16.], [16., 24.]]) / 8
    bbox = bbox_preds[0].detach().view(3, 4, 8, 8)
    cls = cls_scores[0].detach().view(3, nc, 8, 8)
    preds, targets, cls_logits = [], [], []
    for p, x, y in positives:
        s = bbox[p, :, y, x].sigmoid()
        # spec: xy = 2 sigma - 0.5, wh = (2 sigma)^2 * prior (grid units)
        xy = 2 * s[:2] - 0.5
        wh = (2 * s[2:])**2 * prior_wh[p]
        preds.append(torch.cat([xy - wh / 2, xy + wh / 2]))
        t_xy = torch.tensor([3.25 - x, 4.625 - y])
        t_wh = torch.tensor([4.5, 3.0])
        targets.append(torch.cat([t_xy - t_wh / 2, t_xy + t_wh / 2]))
        cls_logits.append(cls[p, :, y, x])
    ciou = complete_box_iou(torch.stack(preds), torch.stack(targets)).diag()
    w = loss_weights(nc)

    expected_bbox = w['bbox'] * (1 - ciou).mean()
    cls_logits = torch.stack(cls_logits)
    onehot = torch.zeros_like(cls_logits)
    onehot[:, 1] = 1
    expected_cls = w['cls'] * F.binary_cross_entropy_with_logits(
        cls_logits, onehot)
    expected_obj = 0.
    for level, obj in enumerate(objectnesses):
        target = torch.zeros_like(obj)
        if level == 0:
            for (p, x, y), iou in zip(positives, ciou):
                target[0, p, y, x] = iou.clamp(min=0)
        expected_obj += OBJ_LEVEL_WEIGHTS[level] * w['obj'] * \
            F.binary_cross_entropy_with_logits(obj.detach(), target)

    torch.testing.assert_close(
        losses['loss_bbox'], expected_bbox, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        losses['loss_cls'], expected_cls, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        losses['loss_obj'], expected_obj, rtol=1e-5, atol=1e-6)
    sum(losses.values()).backward()
    assert bbox_preds[0].grad.abs().sum() > 0


def test_empty_gt_gives_zero_box_and_cls_loss():
    nc = 3
    head = build_head(num_classes=nc)
    cls_scores, bbox_preds, objectnesses = raw_outputs(nc, batch=2)
    empty = [gt([], []), gt([], [])]
    losses = head.loss_by_feat(cls_scores, bbox_preds, objectnesses, empty,
                               metas(2))
    assert losses['loss_cls'].item() == 0
    assert losses['loss_bbox'].item() == 0
    # objectness: every target 0; per-level mean BCE, level weights,
    # times batch size 2
    expected = 2 * sum(
        OBJ_LEVEL_WEIGHTS[i] * loss_weights(nc)['obj'] *
        F.binary_cross_entropy_with_logits(obj.detach(), torch.zeros_like(obj))
        for i, obj in enumerate(objectnesses))
    torch.testing.assert_close(losses['loss_obj'], expected)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()  # zero losses stay connected to every output
    assert cls_scores[0].grad is not None and bbox_preds[2].grad is not None

    fast = head.loss_by_feat(cls_scores, bbox_preds, objectnesses,
                             torch.zeros((0, 6)), metas(2))
    for key in losses:
        torch.testing.assert_close(fast[key], losses[key])


def test_no_matching_prior_gives_zero_box_and_cls_loss():
    head = build_head(num_classes=3, base_sizes=EXAMPLE_ANCHORS)
    outs = raw_outputs(3)
    # a 1x1 box matches none of the priors (ratio >= 4 everywhere)
    losses = head.loss_by_feat(*outs, [gt([[10, 10, 11, 11]], [0])], metas(1))
    assert losses['loss_cls'].item() == 0
    assert losses['loss_bbox'].item() == 0
    assert losses['loss_obj'].item() > 0


def test_single_class_has_zero_cls_loss():
    head = build_head(num_classes=1)
    outs = raw_outputs(1)
    losses = head.loss_by_feat(*outs, [gt([[8, 8, 40, 30]], [0])], metas(1))
    assert losses['loss_cls'].item() == 0
    assert losses['loss_bbox'].item() > 0


def _samples_and_fast(gts, batch_input_shape=(64, 64)):
    samples, rows = [], []
    for i, (bboxes, labels) in enumerate(gts):
        sample = DetDataSample(
            metainfo=dict(
                batch_input_shape=batch_input_shape,
                img_shape=batch_input_shape))
        sample.gt_instances = InstanceData(
            bboxes=HorizontalBoxes(torch.tensor(bboxes).float().view(-1, 4)),
            labels=torch.tensor(labels).long())
        samples.append(sample)
        for box, label in zip(bboxes, labels):
            rows.append([i, label] + list(box))
    fast = dict(
        bboxes_labels=torch.tensor(rows).float().view(-1, 6),
        img_metas=[s.metainfo for s in samples])
    return samples, fast


def test_list_and_fast_inputs_give_identical_losses():
    head = build_head(num_classes=4)
    gts = [([[5, 6, 40, 50], [30, 2, 60, 20]], [0, 3]), ([], []),
           ([[1, 1, 63, 63], [20, 30, 28, 44], [40, 40, 50, 62]], [1, 2, 2])]
    samples, fast = _samples_and_fast(gts)
    bboxes_labels = fast['bboxes_labels'].clone()
    feats = tuple(torch.rand(3, 8, s, s) for s in (8, 4, 2))
    from_list = head.loss(feats, samples)
    from_fast = head.loss(feats, fast)
    assert set(from_list) == {'loss_cls', 'loss_obj', 'loss_bbox'}
    for key in from_list:
        assert from_list[key].item() > 0
        torch.testing.assert_close(from_fast[key], from_list[key])
    # the fast tensor is not modified in place
    assert torch.equal(fast['bboxes_labels'], bboxes_labels)

    with pytest.raises(KeyError, match='img_metas'):
        head.loss(feats, dict(bboxes_labels=bboxes_labels))
    with pytest.raises(ValueError, match=r'\(num_gt, 6\)'):
        head.loss(
            feats,
            dict(
                bboxes_labels=bboxes_labels[:, :5],
                img_metas=fast['img_metas']))


def test_losses_scale_with_batch_and_world_size(monkeypatch):
    # Duplicating an image doubles the positives and cells, so every
    # per-element mean is unchanged; the batch size factor doubles the sum.
    head = build_head(num_classes=3)
    one = raw_outputs(3, batch=1, seed=3)
    two = tuple([torch.cat([t, t]).detach() for t in level] for level in one)
    box = [[4, 8, 40, 44], [30, 30, 62, 50]]
    single = head.loss_by_feat(*one, [gt(box, [0, 2])], metas(1))
    double = head.loss_by_feat(*two, [gt(box, [0, 2])] * 2, metas(2))
    for key in single:
        torch.testing.assert_close(double[key], 2 * single[key])

    monkeypatch.setattr(loss_terms_file, 'get_world_size', lambda: 4)
    world4 = head.loss_by_feat(*one, [gt(box, [0, 2])], metas(1))
    for key in single:
        torch.testing.assert_close(world4[key], 4 * single[key])


def test_ignore_iof_thr_masks_priors_inside_ignored_boxes():
    # 4x4 anchors; the ignored box covers the left half (x < 32) of image 0
    # only. An anchor centred at (x + 0.5) * s lies inside it (IoF 1) when
    # (x + 0.5) * s + 2 <= 32, and outside it (IoF 0) otherwise, i.e.
    # columns x < 32 / s are ignored: 4 of 8, 2 of 4, 1 of 2.
    nc = 3
    anchors = [[(4, 4)] * 3] * 3
    head = build_head(num_classes=nc, base_sizes=anchors, ignore_iof_thr=0.5)
    outs = raw_outputs(nc, batch=2, seed=4)
    ignore = [gt([[0, 0, 32, 64]], [0]), gt([], [])]
    losses = head.loss_by_feat(*outs, [gt([], []), gt([], [])], metas(2),
                               ignore)
    expected = 0.
    for level, obj in enumerate(outs[2]):
        s = obj.shape[-1]
        keep = torch.ones_like(obj)
        keep[0, :, :, :32 // (64 // s)] = 0
        bce = F.binary_cross_entropy_with_logits(
            obj.detach(), torch.zeros_like(obj), reduction='none')
        expected += OBJ_LEVEL_WEIGHTS[level] * loss_weights(nc)['obj'] * (
            bce * keep).sum() / keep.sum()
    torch.testing.assert_close(
        losses['loss_obj'], 2 * expected, rtol=1e-5, atol=0)

    # without ignored boxes the result equals a head without ignore_iof_thr
    plain = build_head(num_classes=nc, base_sizes=anchors)
    gts = [gt([[8, 8, 20, 20]], [1]), gt([[30, 30, 50, 42]], [2])]
    with_flag = head.loss_by_feat(*outs, gts, metas(2), [gt([], [])] * 2)
    without = plain.loss_by_feat(*outs, gts, metas(2))
    for key in without:
        torch.testing.assert_close(with_flag[key], without[key])

    # a GT whose positives are all ignored: zero box/cls loss, no crash
    # (12x12 box centred at (16, 16): ratio 3 to the 4x4 anchors on every
    # level, positives in columns <= 2, 1, 0, all inside the ignored half)
    hidden = head.loss_by_feat(
        *outs,
        [gt([[10, 10, 22, 22]], [1]), gt([], [])], metas(2), ignore)
    assert hidden['loss_bbox'].item() == 0
    assert hidden['loss_cls'].item() == 0


def test_ignored_instances_of_data_samples_are_used():
    # the list path takes ignored boxes from DetDataSample.ignored_instances;
    # an image without that field counts as having none
    head = build_head(num_classes=3, ignore_iof_thr=0.5)
    samples, _ = _samples_and_fast([([[8, 8, 40, 30]], [1]),
                                    ([[20, 20, 50, 60]], [2])])
    samples[0].ignored_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor([[0., 0., 32., 64.]])),
        labels=torch.tensor([0]))
    feats = tuple(torch.rand(2, 8, s, s) for s in (8, 4, 2))
    from_samples = head.loss(feats, samples)
    outs = head(feats)
    gts = [s.gt_instances for s in samples]
    img_metas = [s.metainfo for s in samples]
    expected = head.loss_by_feat(*outs, gts, img_metas,
                                 [samples[0].ignored_instances, None])
    not_ignored = head.loss_by_feat(*outs, gts, img_metas)
    for key in expected:
        torch.testing.assert_close(from_samples[key], expected[key])
    assert from_samples['loss_obj'] != not_ignored['loss_obj']


# ---------------------------------------------------------------------------
# prediction
# ---------------------------------------------------------------------------
TEST_CFG = dict(
    multi_label=True,
    nms_pre=30000,
    score_thr=0.01,
    nms=dict(type='nms', iou_threshold=0.65),
    max_per_img=300)


class Outputs:
    """Head outputs of a 32x32 input where nothing fires unless set."""

    def __init__(self, num_classes=3, batch=1, img_size=32):
        self.nc = num_classes
        sizes = [img_size // s for s in (8, 16, 32)]
        self.cls = [
            torch.full((batch, 3 * num_classes, s, s), -20.) for s in sizes
        ]
        self.bbox = [torch.zeros(batch, 12, s, s) for s in sizes]
        self.obj = [torch.full((batch, 3, s, s), -20.) for s in sizes]

    def fire(self, level, prior, x, y, cls_logits, obj=20., img=0):
        for c, logit in cls_logits.items():
            self.cls[level][img, prior * self.nc + c, y, x] = logit
        self.obj[level][img, prior, y, x] = obj
        return self

    def __iter__(self):
        return iter((self.cls, self.bbox, self.obj))


def meta32(**kwargs):
    meta = dict(
        ori_shape=(32, 32),
        img_shape=(32, 32),
        batch_input_shape=(32, 32),
        scale_factor=(1.0, 1.0))
    meta.update(kwargs)
    return meta


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_predict_rescales_removes_padding_and_clamps():
    # Prior (16, 30) of cell (2, 1) at stride 8 with zero box logits decodes
    # to itself: centre (20, 12) -> (12, -3, 28, 27). Remove the padding
    # (left 4, top 2), divide by scale (0.5, 0.25): (16, -20, 48, 100);
    # clamp to the 120x40 original: (16, 0, 40, 100).
    head = build_head(test_cfg=TEST_CFG)
    outs = Outputs().fire(0, 1, 2, 1, {2: 0.})
    meta = meta32(
        ori_shape=(120, 40),
        scale_factor=(0.5, 0.25),
        pad_param=np.array([2, 2, 4, 4], dtype=np.float32))
    result, = head.predict_by_feat(*outs, batch_img_metas=[meta])
    assert isinstance(result, InstanceData)
    torch.testing.assert_close(result.bboxes,
                               torch.tensor([[16., 0., 40., 100.]]))
    torch.testing.assert_close(result.scores,
                               torch.tensor([sigmoid(20.) * 0.5]))
    assert result.labels.tolist() == [2]

    # without rescale: input coordinates, clamped to the input image
    result, = head.predict_by_feat(
        *outs, batch_img_metas=[meta], rescale=False)
    torch.testing.assert_close(result.bboxes,
                               torch.tensor([[12., 0., 28., 27.]]))

    # without pad_param only the scale is undone: (24, -12, 56, 108)
    result, = head.predict_by_feat(
        *outs,
        batch_img_metas=[
            meta32(ori_shape=(200, 200), scale_factor=(0.5, 0.25))
        ])
    torch.testing.assert_close(result.bboxes,
                               torch.tensor([[24., 0., 56., 108.]]))


def test_multi_label():
    outs = Outputs().fire(0, 1, 2, 1, {0: 0., 2: 1.})
    multi = build_head(test_cfg=TEST_CFG)
    result, = multi.predict_by_feat(*outs, batch_img_metas=[meta32()])
    got = dict(zip(result.labels.tolist(), result.scores.tolist()))
    assert sorted(got) == [0, 2]
    assert got[0] == pytest.approx(0.5)
    assert got[2] == pytest.approx(sigmoid(1.))
    # both labels share the box
    assert torch.equal(result.bboxes[0], result.bboxes[1])

    single = build_head(test_cfg=dict(TEST_CFG, multi_label=False))
    result, = single.predict_by_feat(*outs, batch_img_metas=[meta32()])
    assert result.labels.tolist() == [2]
    assert result.scores.tolist() == pytest.approx([sigmoid(1.)])


def _three_boxes():
    # 10x13 prior at cells (0, 0), (2, 0), (0, 2): disjoint boxes
    outs = Outputs()
    for (x, y), logit in zip([(0, 0), (2, 0), (0, 2)], (3., 2., 1.)):
        outs.fire(0, 0, x, y, {1: logit})
    return outs


def test_score_thr_nms_pre_max_per_img_and_yolox_style():
    outs = _three_boxes()
    scores = [sigmoid(3.), sigmoid(2.), sigmoid(1.)]  # 0.95, 0.88, 0.73

    def run(**cfg):
        head = build_head(test_cfg=dict(TEST_CFG, **cfg))
        result, = head.predict_by_feat(*outs, batch_img_metas=[meta32()])
        return sorted(result.scores.tolist(), reverse=True)

    assert run() == pytest.approx(scores)
    assert run(score_thr=0.85) == pytest.approx(scores[:2])
    assert run(nms_pre=2) == pytest.approx(scores[:2])
    assert run(max_per_img=1) == pytest.approx(scores[:1])
    assert run(max_per_img=1, yolox_style=True) == pytest.approx(scores)


def test_nms_and_with_nms():
    # prior (16, 30) at cells (1, 1) and (2, 1): boxes 8 px apart,
    # IoU = 8 * 30 / (2 * 480 - 240) = 1/3
    outs = Outputs().fire(0, 1, 1, 1, {0: 2.}).fire(0, 1, 2, 1, {0: 1.})
    strict = build_head(
        test_cfg=dict(TEST_CFG, nms=dict(type='nms', iou_threshold=0.3)))
    result, = strict.predict_by_feat(*outs, batch_img_metas=[meta32()])
    assert result.scores.tolist() == pytest.approx([sigmoid(2.)])
    torch.testing.assert_close(result.bboxes, torch.tensor([[4., 0., 20.,
                                                             27.]]))
    loose = build_head(
        test_cfg=dict(TEST_CFG, nms=dict(type='nms', iou_threshold=0.5)))
    result, = loose.predict_by_feat(*outs, batch_img_metas=[meta32()])
    assert len(result) == 2
    result, = strict.predict_by_feat(
        *outs, batch_img_metas=[meta32()], with_nms=False)
    assert len(result) == 2


def test_empty_prediction():
    head = build_head(test_cfg=TEST_CFG)
    result, = head.predict_by_feat(*Outputs(), batch_img_metas=[meta32()])
    assert result.bboxes.shape == (0, 4)
    assert result.scores.shape == (0, )
    assert result.labels.shape == (0, )


def test_predict_without_objectness_for_every_image():
    # heads without objectness (YOLOv6/v8/RTMDet) reuse predict_by_feat
    outs = Outputs(batch=4)
    for img in range(4):
        outs.fire(0, 1, 2, 1, {1: float(img)}, img=img)
    head = build_head(test_cfg=TEST_CFG)
    results = head.predict_by_feat(
        outs.cls, outs.bbox, None, batch_img_metas=[meta32()] * 4)
    assert len(results) == 4
    for img, result in enumerate(results):
        assert result.scores.tolist() == pytest.approx([sigmoid(img)])


def test_prior_cache_follows_input_size():
    head = build_head(test_cfg=TEST_CFG)
    small = Outputs(img_size=32).fire(0, 1, 2, 1, {0: 5.})
    big = Outputs(img_size=64).fire(0, 1, 6, 5, {0: 5.})
    result, = head.predict_by_feat(*small, batch_img_metas=[meta32()])
    torch.testing.assert_close(result.bboxes,
                               torch.tensor([[12., 0., 28., 27.]]))
    result, = head.predict_by_feat(
        *big, batch_img_metas=[meta32(ori_shape=(64, 64), img_shape=(64, 64))])
    # centre (52, 44), 16x30
    torch.testing.assert_close(result.bboxes,
                               torch.tensor([[44., 29., 60., 59.]]))


def test_predict_through_detector_style_call():
    head = build_head(test_cfg=TEST_CFG)
    sample = DetDataSample(metainfo=meta32())
    feats = tuple(torch.rand(1, 8, s, s) for s in (4, 2, 1))
    results = head.predict(feats, [sample], rescale=True)
    assert len(results) == 1
    assert results[0].bboxes.shape[1] == 4
    assert len(results[0]) <= TEST_CFG['max_per_img']


def test_is_registered_and_exported():
    assert MODELS.get('YOLOv5Head') is YOLOv5Head
