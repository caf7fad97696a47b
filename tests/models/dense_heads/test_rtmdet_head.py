"""RTMDetHead.

References: spec 06 §3.7 (signature and defaults; forward returns only
(cls_scores, bbox_preds); loss: distances * stride -> distance2bbox,
assigner, QFL on (labels, assign_metrics), GIoU weighted by the metrics,
both divided by max(1, sum of metrics)) and 02 §3.4 (QFL / GIoU formulas).
The loss values below are computed by hand from those formulas.
"""
import inspect
import math

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from yolokit.models import RTMDetHead
from yolokit.registry import MODELS

LN2 = math.log(2)


def _head(num_classes=1, strides=(8, ), with_train_cfg=True, **kwargs):
    cfg = dict(
        type='RTMDetHead',
        head_module=dict(
            type='RTMDetSepBNHeadModule',
            num_classes=num_classes,
            in_channels=8,
            feat_channels=8,
            featmap_strides=list(strides)),
        prior_generator=dict(
            type='mmdet.MlvlPointGenerator', offset=0, strides=list(strides)),
        test_cfg=ConfigDict(
            multi_label=True,
            nms_pre=30000,
            score_thr=0.001,
            nms=dict(type='nms', iou_threshold=0.65),
            max_per_img=300),
        **kwargs)
    if with_train_cfg:
        cfg['train_cfg'] = ConfigDict(
            assigner=dict(
                type='BatchDynamicSoftLabelAssigner',
                num_classes=num_classes,
                topk=13),
            allowed_border=-1,
            pos_weight=-1,
            debug=False)
    return MODELS.build(cfg)


def test_signature_defaults():
    params = inspect.signature(RTMDetHead.__init__).parameters
    assert list(params)[1:] == [
        'head_module', 'prior_generator', 'bbox_coder', 'loss_cls',
        'loss_bbox', 'train_cfg', 'test_cfg', 'init_cfg'
    ]
    assert params['prior_generator'].default == dict(
        type='mmdet.MlvlPointGenerator', offset=0, strides=[8, 16, 32])
    assert params['bbox_coder'].default == dict(type='DistancePointBBoxCoder')
    assert params['loss_cls'].default == dict(
        type='mmdet.QualityFocalLoss',
        use_sigmoid=True,
        beta=2.0,
        loss_weight=1.0)
    assert params['loss_bbox'].default == dict(
        type='mmdet.GIoULoss', loss_weight=2.0)


def test_no_objectness_and_assigner_from_train_cfg():
    head = _head(num_classes=3, strides=(8, 16, 32))
    assert head.loss_obj is None
    assert head.cls_out_channels == 3 and head.use_sigmoid_cls
    assert type(head.assigner).__name__ == 'BatchDynamicSoftLabelAssigner'
    assert type(head.sampler).__name__ == 'PseudoSampler'
    feats = [torch.rand(1, 8, s, s) for s in (8, 4, 2)]
    outs = head(feats)
    assert len(outs) == 2  # (cls_scores, bbox_preds), no objectness
    assert [tuple(c.shape) for c in outs[0]] == [(1, 3, s, s)
                                                 for s in (8, 4, 2)]

    test_head = _head(with_train_cfg=False)
    assert not hasattr(test_head, 'assigner')
    with pytest.raises(RuntimeError, match='train_cfg'):
        test_head.loss_by_feat([torch.zeros(1, 1, 2, 2)],
                               [torch.zeros(1, 4, 2, 2)], [InstanceData(
                                   bboxes=torch.zeros(0, 4),
                                   labels=torch.zeros(0).long())],
                               [dict(batch_input_shape=(16, 16))])


def _one_positive_case():
    """1 class, one 2x2 level at stride 8: priors (0|8, 0|8) (offset 0).

    GT [1, 1, 15, 15] contains only the prior (8, 8). All logits are 0; the
    prior (8, 8) predicts distances (1, 1, 1, 1) * 8 -> box [0, 0, 16, 16]:
    IoU with the GT = 14*14 / 16*16 = 0.765625, and the enclosing box is
    the prediction itself, so GIoU = IoU.
    """
    cls_scores = [torch.zeros(1, 1, 2, 2)]
    bbox_preds = [torch.ones(1, 4, 2, 2)]
    gts = [
        InstanceData(
            bboxes=torch.tensor([[1., 1., 15., 15.]]),
            labels=torch.tensor([0]))
    ]
    metas = [dict(batch_input_shape=(16, 16), img_shape=(16, 16))]
    return cls_scores, bbox_preds, gts, metas


def test_loss_hand_computed():
    head = _head()
    cls_scores, bbox_preds, gts, metas = _one_positive_case()
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    iou = 196 / 256
    # QFL (beta 2): positive BCE(0, iou) * |iou - 0.5|^2 = ln2 (iou-.5)^2;
    # 3 negatives BCE(0, 0) * 0.5^2 = ln2 / 4 each. avg = max(1, iou) = 1.
    expected_cls = LN2 * (iou - 0.5)**2 + 3 * LN2 / 4
    # GIoU loss (1 - iou), weighted by the soft label iou, weight 2.0
    expected_bbox = 2.0 * (1 - iou) * iou
    torch.testing.assert_close(losses['loss_cls'],
                               torch.tensor(expected_cls))
    torch.testing.assert_close(losses['loss_bbox'],
                               torch.tensor(expected_bbox))


def test_loss_fast_tensor_path_equals_instance_list():
    # seeded before the head is built: its random weights decide whether
    # the level-0 regression branch gets positives in loss() below
    torch.manual_seed(0)
    head = _head(num_classes=2, strides=(8, 16))
    cls_scores = [torch.randn(2, 2, 4, 4), torch.randn(2, 2, 2, 2)]
    bbox_preds = [
        torch.rand(2, 4, 4, 4) * 2 + 0.5,
        torch.rand(2, 4, 2, 2) * 2 + 0.5
    ]
    gts = [
        InstanceData(
            bboxes=torch.tensor([[2., 3., 20., 25.], [10., 5., 30., 30.]]),
            labels=torch.tensor([1, 0])),
        InstanceData(
            bboxes=torch.tensor([[0., 0., 31., 31.]]),
            labels=torch.tensor([1])),
    ]
    metas = [dict(batch_input_shape=(32, 32))] * 2
    from_list = head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    bboxes_labels = torch.tensor([[0, 1, 2., 3., 20., 25.],
                                  [0, 0, 10., 5., 30., 30.],
                                  [1, 1, 0., 0., 31., 31.]])
    from_tensor = head.loss_by_feat(cls_scores, bbox_preds, bboxes_labels,
                                    metas)
    for key in from_list:
        torch.testing.assert_close(from_tensor[key], from_list[key])
    assert from_list['loss_bbox'] > 0

    # the whole path through loss() with the fast batch dict
    feats = [torch.rand(2, 8, 4, 4), torch.rand(2, 8, 2, 2)]
    losses = head.loss(
        feats, dict(bboxes_labels=bboxes_labels, img_metas=metas))
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    (losses['loss_cls'] + losses['loss_bbox']).backward()
    grad = head.head_module.rtm_reg[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_loss_without_gt():
    head = _head()
    cls_scores = [torch.zeros(1, 1, 2, 2, requires_grad=True)]
    bbox_preds = [torch.ones(1, 4, 2, 2, requires_grad=True)]
    gts = [
        InstanceData(
            bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    ]
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts,
                               [dict(batch_input_shape=(16, 16))])
    # 4 negatives with logit 0: ln2 / 4 each; avg_factor clamps to 1
    torch.testing.assert_close(losses['loss_cls'], torch.tensor(LN2))
    assert losses['loss_bbox'].item() == 0
    (losses['loss_cls'] + losses['loss_bbox']).backward()
    assert bbox_preds[0].grad is not None


def test_predict_decodes_distances_in_stride_units():
    head = _head(with_train_cfg=False)
    cls_scores = torch.full((1, 1, 2, 2), -10.)
    cls_scores[0, 0, 1, 1] = 10.  # only the prior at (8, 8) scores
    bbox_preds = torch.tensor([1., 0.5, 0.25, 1.]).view(1, 4, 1, 1).expand(
        1, 4, 2, 2)
    metas = [
        dict(
            ori_shape=(16, 16),
            img_shape=(16, 16),
            scale_factor=(1., 1.),
            batch_input_shape=(16, 16))
    ]
    results = head.predict_by_feat([cls_scores], [bbox_preds],
                                   batch_img_metas=metas,
                                   rescale=False)
    result = results[0]
    assert len(result) == 1
    # (l, t, r, b) * 8 around (8, 8): [8 - 8, 8 - 4, 8 + 2, 8 + 8]
    torch.testing.assert_close(result.bboxes,
                               torch.tensor([[0., 4., 10., 16.]]))
    torch.testing.assert_close(result.scores,
                               torch.sigmoid(torch.tensor([10.])))
    assert result.labels.tolist() == [0]

    # rescale: letterbox padding removed, then divided by scale_factor
    metas[0].update(ori_shape=(8, 8), scale_factor=(2., 2.),
                    pad_param=[0., 0., 0., 0.])
    result = head.predict_by_feat([cls_scores], [bbox_preds],
                                  batch_img_metas=metas,
                                  rescale=True)[0]
    torch.testing.assert_close(result.bboxes,
                               torch.tensor([[0., 2., 5., 8.]]))
