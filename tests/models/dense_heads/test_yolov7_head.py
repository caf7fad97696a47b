"""YOLOv7Head.loss_by_feat on tiny heads: the no-GT loss by formula, the
two GT input forms, what the auxiliary branches add, errors. (MMYOLO
parity of the losses is in tests/models/test_yolov7_mmyolo_parity.py.)"""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from yolokit.models.task_modules.assigners import BatchYOLOv7Assigner
from yolokit.registry import MODELS

NUM_CLASSES = 3
P5_ANCHORS = [[(12, 16), (19, 36), (40, 28)], [(36, 75), (76, 55), (72, 146)],
              [(142, 110), (192, 243), (459, 401)]]
P6_ANCHORS = [[(19, 27), (44, 40), (38, 94)], [(96, 68), (86, 152),
                                               (180, 137)],
              [(140, 301), (303, 264), (238, 542)],
              [(436, 615), (739, 380), (925, 792)]]
OBJ_WEIGHT = 0.7
LEVEL_WEIGHTS = [4., 1., 0.4]


def _p5_head():
    return MODELS.build(
        dict(
            type='YOLOv7Head',
            head_module=dict(
                type='YOLOv7HeadModule',
                num_classes=NUM_CLASSES,
                in_channels=[8, 16, 32],
                featmap_strides=[8, 16, 32],
                num_base_priors=3),
            prior_generator=dict(
                type='mmdet.YOLOAnchorGenerator',
                base_sizes=P5_ANCHORS,
                strides=[8, 16, 32]),
            loss_obj=dict(
                type='mmdet.CrossEntropyLoss',
                use_sigmoid=True,
                reduction='mean',
                loss_weight=OBJ_WEIGHT),
            obj_level_weights=LEVEL_WEIGHTS,
            simota_candidate_topk=10))


def _p6_head(use_aux: bool, aux_loss_weights: float):
    return MODELS.build(
        dict(
            type='YOLOv7Head',
            head_module=dict(
                type='YOLOv7p6HeadModule',
                num_classes=NUM_CLASSES,
                in_channels=[8, 8, 16, 16],
                main_out_channels=[8, 8, 16, 16],
                aux_out_channels=[8, 8, 16, 16],
                featmap_strides=[8, 16, 32, 64],
                use_aux=use_aux),
            prior_generator=dict(
                type='mmdet.YOLOAnchorGenerator',
                base_sizes=P6_ANCHORS,
                strides=[8, 16, 32, 64]),
            obj_level_weights=[4.0, 1.0, 0.25, 0.06],
            aux_loss_weights=aux_loss_weights))


def _feats(channels, size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(2, c, size // s, size // s, generator=gen)
        for c, s in zip(channels, (8, 16, 32, 64))
    ]


def _gt(size):
    # image 0: two boxes, image 1: one
    return [
        InstanceData(
            bboxes=torch.tensor([[4., 6., 40., 30.], [30., 20., 60., 60.]]) *
            size / 64,
            labels=torch.tensor([0, 2])),
        InstanceData(
            bboxes=torch.tensor([[10., 10., 50., 44.]]) * size / 64,
            labels=torch.tensor([1])),
    ]


def _metas(size):
    return [dict(batch_input_shape=(size, size))] * 2


def test_head_owns_the_assigner():
    head = _p5_head()
    assert isinstance(head.assigner, BatchYOLOv7Assigner)
    assert head.assigner.candidate_topk == 10
    assert list(head.assigner.state_dict()) == []


def test_no_gt_loss_by_formula():
    # no positive anywhere: the objectness target is 0 everywhere, so
    # loss_obj = B * sum_l w_l * obj_weight * mean BCE(obj_l, 0), and the
    # class and box terms are zeros that keep the graph
    head = _p5_head().train()
    outs = head(_feats([8, 16, 32], 64))
    empty = [
        InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
    ] * 2
    losses = head.loss_by_feat(*outs, empty, _metas(64))
    want = 2 * sum(
        w * OBJ_WEIGHT *
        F.binary_cross_entropy_with_logits(obj, torch.zeros_like(obj))
        for w, obj in zip(LEVEL_WEIGHTS, outs[2]))
    torch.testing.assert_close(losses['loss_obj'], want)
    assert losses['loss_cls'].item() == 0 and losses['loss_bbox'].item() == 0
    sum(losses.values()).backward()
    conv = head.head_module.convs_pred[0][1]
    assert conv.weight.grad is not None


def test_fast_tensor_gt_equals_instance_list():
    head = _p5_head().train()
    outs = head(_feats([8, 16, 32], 64))
    gt = _gt(64)
    rows = torch.cat([
        torch.cat(
            [torch.full(
                (len(g), 1), float(i)), g.labels[:, None], g.bboxes], 1)
        for i, g in enumerate(gt)
    ])
    from_list = head.loss_by_feat(*outs, gt, _metas(64))
    from_rows = head.loss_by_feat(*outs, rows, _metas(64))
    for key in ('loss_cls', 'loss_obj', 'loss_bbox'):
        torch.testing.assert_close(from_rows[key], from_list[key])
        assert from_list[key].item() > 0, key
    assert torch.isfinite(sum(from_list.values()))


@pytest.fixture(scope='module')
def p6_pair():
    with_aux = _p6_head(use_aux=True, aux_loss_weights=0.25).train()
    main_only = _p6_head(use_aux=False, aux_loss_weights=0.25).train()
    # the main branch of both heads has the same weights
    main_only.load_state_dict(with_aux.state_dict(), strict=False)
    return with_aux, main_only


def test_aux_branches_only_add_their_weighted_terms(p6_pair):
    with_aux, main_only = p6_pair
    feats = _feats([8, 8, 16, 16], 128)
    gt, metas = _gt(128), _metas(128)
    main = main_only.loss_by_feat(*main_only(feats), gt, metas)
    quarter = with_aux.loss_by_feat(*with_aux(feats), gt, metas)
    full_aux = copy.deepcopy(with_aux)
    full_aux.aux_loss_weights = 1.0
    once = full_aux.loss_by_feat(*full_aux(feats), gt, metas)
    for key in main:
        # total(w) = main + w * aux, linear in w: aux = total(1) - main
        aux = once[key] - main[key]
        assert aux.item() > 0, key
        torch.testing.assert_close(
            quarter[key], main[key] + 0.25 * aux, rtol=1e-5, atol=1e-6)


def test_missing_batch_input_shape_is_named():
    head = _p5_head().train()
    outs = head(_feats([8, 16, 32], 64))
    with pytest.raises(KeyError, match='batch_input_shape'):
        head.loss_by_feat(*outs, _gt(64), [dict(img_shape=(64, 64))] * 2)


def test_level_count_mismatch_is_named():
    head = _p5_head().train()
    cls, box, obj = head(_feats([8, 16, 32], 64))
    with pytest.raises(ValueError, match='objectnesses'):
        head.loss_by_feat(cls, box, obj[:2], _gt(64), _metas(64))
