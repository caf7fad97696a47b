"""YOLOXHead: defaults, GT preprocessing, losses on a hand-made case,
the auxiliary L1 loss switch, empty GT and prediction.

References: spec 06 §3.10 (signature and default losses; loss: priors with
stride, decode with YOLOXBBoxCoder, assignment on priors offset by +0.5
stride with ``sqrt(sigmoid(cls) * sigmoid(obj))`` scores, cls target
``one_hot * IoU``, obj target 1 at positives, aux target
``((gt_c - prior) / stride, log(gt_wh / stride + eps))``, every loss divided
by ``max(num_pos, 1)``; ``use_bbox_aux`` starts False; prediction is the
YOLOv5 path with ``yolox_style``) and §4 items 17 and 23.

The hand-made case: one level of stride 8 with a 2 x 2 map (priors at the
cell corners (0, 0), (8, 0), (0, 8), (8, 8)), all box deltas 0 (every
decoded box is 8 x 8 centred on its corner) and one GT ``[0, 0, 8, 8]``.
Only the first prior's cell centre (4, 4) lies inside the GT, so SimOTA
(which adds 1e5 to the cost of the others) picks it; the IoU of its box
``[-4, -4, 4, 4]`` with the GT is 16 / 112 = 1/7, and the four IoUs sum to
4/7 < 1, so the dynamic k is 1.

Besides, the losses (with and without the L1 term) and the single-label
predictions are compared with MMDetection 3.x's ``YOLOXHead``, the
implementation MMYOLO's YOLOX loss follows, on random head outputs.
"""
import inspect
import math

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from yolokit.models import YOLOXHead
from yolokit.registry import MODELS

OBJ_LOGITS = [1.0, -1.0, 0.5, 2.0]  # priors in (y, x) order
CLS_LOGIT = 0.3


def _head(num_classes=1, with_train_cfg=True, strides=(8, )):
    cfg = dict(
        type='YOLOXHead',
        head_module=dict(
            type='YOLOXHeadModule',
            num_classes=num_classes,
            in_channels=8,
            feat_channels=8,
            featmap_strides=list(strides)),
        prior_generator=dict(
            type='mmdet.MlvlPointGenerator', offset=0, strides=list(strides)),
        test_cfg=ConfigDict(
            yolox_style=True,
            multi_label=True,
            score_thr=0.001,
            max_per_img=300,
            nms=dict(type='nms', iou_threshold=0.65)))
    if with_train_cfg:
        cfg['train_cfg'] = ConfigDict(
            assigner=dict(
                type='mmdet.SimOTAAssigner',
                center_radius=2.5,
                iou_calculator=dict(type='mmdet.BboxOverlaps2D')))
    return MODELS.build(cfg)


def _bce(logit, target):
    return math.log1p(math.exp(logit)) - logit * target


def _outputs(batch=1, num_classes=1):
    cls = torch.full((batch, num_classes, 2, 2), CLS_LOGIT)
    bbox = torch.zeros(batch, 4, 2, 2)
    obj = torch.tensor(OBJ_LOGITS).view(1, 1, 2, 2).repeat(batch, 1, 1, 1)
    for t in (cls, bbox, obj):
        t.requires_grad_(True)
    return [cls], [bbox], [obj]


def _gt(bboxes, labels):
    return InstanceData(
        bboxes=torch.tensor(bboxes, dtype=torch.float32).view(-1, 4),
        labels=torch.tensor(labels, dtype=torch.long))


IMG_META = dict(batch_input_shape=(16, 16), img_shape=(16, 16))


def test_signature_defaults():
    params = inspect.signature(YOLOXHead).parameters
    assert list(params) == [
        'head_module', 'prior_generator', 'bbox_coder', 'loss_cls',
        'loss_bbox', 'loss_obj', 'loss_bbox_aux', 'train_cfg', 'test_cfg',
        'init_cfg'
    ]
    assert params['prior_generator'].default == dict(
        type='mmdet.MlvlPointGenerator', offset=0, strides=[8, 16, 32])
    assert params['bbox_coder'].default == dict(type='YOLOXBBoxCoder')
    assert params['loss_cls'].default == dict(
        type='mmdet.CrossEntropyLoss',
        use_sigmoid=True,
        reduction='sum',
        loss_weight=1.0)
    assert params['loss_bbox'].default == dict(
        type='mmdet.IoULoss',
        mode='square',
        eps=1e-16,
        reduction='sum',
        loss_weight=5.0)
    assert params['loss_obj'].default == params['loss_cls'].default
    assert params['loss_bbox_aux'].default == dict(
        type='mmdet.L1Loss', reduction='sum', loss_weight=1.0)


def test_build_state():
    head = _head()
    assert head.use_bbox_aux is False
    assert type(head.loss_bbox_aux).__name__ == 'L1Loss'
    assert type(head.assigner).__name__ == 'SimOTAAssigner'
    assert type(head.sampler).__name__ == 'PseudoSampler'
    assert not hasattr(_head(with_train_cfg=False), 'assigner')


def test_gt_instances_preprocess():
    gt = torch.tensor([[0, 2, 1., 2., 3., 4.], [2, 0, 5., 6., 7., 8.],
                       [0, 1, 9., 10., 11., 12.]])
    out = YOLOXHead.gt_instances_preprocess(gt, 3)
    assert len(out) == 3
    assert out[0].bboxes.tolist() == [[1, 2, 3, 4], [9, 10, 11, 12]]
    assert out[0].labels.tolist() == [2, 1]
    assert len(out[1]) == 0 and out[1].bboxes.shape == (0, 4)
    assert out[2].labels.tolist() == [0]


def test_hand_made_losses():
    head = _head()
    cls, bbox, obj = _outputs()
    losses = head.loss_by_feat(cls, bbox, obj, [_gt([0, 0, 8, 8], [0])],
                               [IMG_META])
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_obj'}
    iou = 1 / 7
    expected_obj = _bce(OBJ_LOGITS[0], 1) + sum(
        _bce(x, 0) for x in OBJ_LOGITS[1:])
    assert losses['loss_obj'].item() == pytest.approx(expected_obj, rel=1e-5)
    assert losses['loss_cls'].item() == pytest.approx(
        _bce(CLS_LOGIT, iou), rel=1e-5)
    assert losses['loss_bbox'].item() == pytest.approx(
        5.0 * (1 - iou**2), rel=1e-5)
    for value in losses.values():
        assert torch.isfinite(value) and value > 0
    sum(losses.values()).backward()
    assert bbox[0].grad.abs().sum() > 0
    assert cls[0].grad[0, 0, 0, 0] != 0
    assert cls[0].grad[0, 0, 1, 1] == 0  # not a positive


def test_bbox_aux_loss_only_when_switched_on():
    head = _head()
    head.use_bbox_aux = True
    cls, bbox, obj = _outputs()
    losses = head.loss_by_feat(cls, bbox, obj, [_gt([0, 0, 8, 8], [0])],
                               [IMG_META])
    assert set(losses) == {
        'loss_cls', 'loss_bbox', 'loss_obj', 'loss_bbox_aux'
    }
    # target: centre (4, 4) - prior (0, 0) = half a stride; log(8 / 8) = 0
    assert losses['loss_bbox_aux'].item() == pytest.approx(1.0, abs=1e-6)
    losses['loss_bbox_aux'].backward()
    assert bbox[0].grad[0, :2, 0, 0].tolist() == [-1.0, -1.0]
    assert bbox[0].grad[0, :, 1, 1].abs().sum() == 0


def test_fast_tensor_gt_and_image_without_gt():
    """The yolov5_collate tensor gives the same losses as InstanceData; an
    image without GT only adds objectness negatives."""
    head = _head(num_classes=2)
    cls, bbox, obj = _outputs(batch=2, num_classes=2)
    metas = [IMG_META, IMG_META]
    by_list = head.loss_by_feat(
        cls, bbox, obj,
        [_gt([0, 0, 8, 8], [1]), _gt([], [])], metas)
    fast = torch.tensor([[0., 1., 0., 0., 8., 8.]])
    by_tensor = head.loss_by_feat(cls, bbox, obj, fast, metas)
    for key in by_list:
        assert by_list[key].item() == pytest.approx(by_tensor[key].item())
    expected_obj = _bce(OBJ_LOGITS[0], 1) + sum(
        _bce(x, 0)
        for x in OBJ_LOGITS[1:]) + sum(_bce(x, 0) for x in OBJ_LOGITS)
    assert by_list['loss_obj'].item() == pytest.approx(expected_obj, rel=1e-5)
    # 2 classes: target (0, 1/7) for the positive
    expected_cls = _bce(CLS_LOGIT, 0) + _bce(CLS_LOGIT, 1 / 7)
    assert by_list['loss_cls'].item() == pytest.approx(expected_cls, rel=1e-5)


@pytest.mark.parametrize('use_bbox_aux', [False, True])
def test_no_gt_at_all(use_bbox_aux):
    head = _head()
    head.use_bbox_aux = use_bbox_aux
    cls, bbox, obj = _outputs(batch=2)
    losses = head.loss_by_feat(cls, bbox, obj, torch.zeros((0, 6)),
                               [IMG_META] * 2)
    assert ('loss_bbox_aux' in losses) is use_bbox_aux
    assert losses['loss_cls'].item() == 0
    assert losses['loss_bbox'].item() == 0
    assert losses['loss_obj'].item() == pytest.approx(
        2 * sum(_bce(x, 0) for x in OBJ_LOGITS), rel=1e-5)
    sum(losses.values()).backward()
    # the zero losses keep every branch in the graph
    assert cls[0].grad is not None and bbox[0].grad is not None


def test_loss_needs_train_cfg():
    head = _head(with_train_cfg=False)
    cls, bbox, obj = _outputs()
    with pytest.raises(RuntimeError, match='train_cfg'):
        head.loss_by_feat(cls, bbox, obj, [_gt([0, 0, 8, 8], [0])], [IMG_META])


def test_loss_through_the_module_with_data_samples():
    """loss() with the fast dict of yolov5_collate, through the module."""
    head = _head(num_classes=3, strides=(8, 16))
    head.init_weights()
    feats = [torch.rand(2, 8, 4, 4), torch.rand(2, 8, 2, 2)]
    batch = dict(
        bboxes_labels=torch.tensor([[0., 2., 2., 3., 20., 25.],
                                    [1., 0., 10., 0., 31., 31.]]),
        img_metas=[dict(batch_input_shape=(32, 32))] * 2)
    losses = head.loss(feats, batch)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_obj'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())


def test_loss_with_det_data_samples_matches_fast_dict():
    """loss() with a list of DetDataSample (HorizontalBoxes GT) gives the
    same losses as with the yolov5_collate dict."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    head = _head(num_classes=3, strides=(8, 16))
    head.init_weights()
    torch.manual_seed(0)
    feats = [torch.rand(2, 8, 4, 4), torch.rand(2, 8, 2, 2)]
    rows = torch.tensor([[0., 2., 2., 3., 20.,
                          25.], [1., 0., 10., 0., 31., 31.],
                         [1., 1., 4., 4., 12., 20.]])
    samples = []
    for i in range(2):
        sample = DetDataSample(
            metainfo=dict(batch_input_shape=(32, 32), img_shape=(32, 32)))
        mine = rows[rows[:, 0] == i]
        sample.gt_instances = InstanceData(
            bboxes=HorizontalBoxes(mine[:, 2:]), labels=mine[:, 1].long())
        samples.append(sample)
    by_samples = head.loss(feats, samples)
    by_dict = head.loss(
        feats,
        dict(
            bboxes_labels=rows,
            img_metas=[dict(batch_input_shape=(32, 32))] * 2))
    assert set(by_samples) == set(by_dict)
    for key in by_dict:
        assert by_samples[key].item() == pytest.approx(by_dict[key].item())


def test_predict_by_feat_decodes_yolox_boxes():
    head = _head(num_classes=2)
    cls = torch.full((1, 2, 2, 2), -10.)
    cls[0, 1, 1, 1] = 3.0  # class 1 at the prior (8, 8)
    bbox = torch.zeros(1, 4, 2, 2)
    bbox[0, :, 1, 1] = torch.tensor([0.5, 0.25, math.log(2), 0.])
    obj = torch.full((1, 1, 2, 2), 4.0)
    results = head.predict_by_feat([cls], [bbox], [obj],
                                   [dict(img_shape=(64, 64))],
                                   rescale=False)
    pred = results[0]
    assert len(pred) == 1
    assert pred.labels.tolist() == [1]
    # centre (8 + 0.5 * 8, 8 + 0.25 * 8) = (12, 10), size (16, 8)
    assert pred.bboxes[0].tolist() == pytest.approx([4., 6., 20., 14.],
                                                    abs=1e-4)
    expected = torch.sigmoid(torch.tensor(3.)) * torch.sigmoid(
        torch.tensor(4.))
    assert pred.scores.item() == pytest.approx(expected.item(), rel=1e-5)


# ------------------------- parity with MMDetection's YOLOXHead (reference)


def _mmdet_and_yolokit_heads(num_classes):
    """MMDetection 3.x's YOLOXHead (which MMYOLO's loss follows) and
    yolokit's, fed the same raw outputs below."""
    from mmdet.models.dense_heads import YOLOXHead as MMDetYOLOXHead
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        reference = MMDetYOLOXHead(
            num_classes=num_classes,
            in_channels=8,
            feat_channels=8,
            strides=[8, 16, 32],
            train_cfg=ConfigDict(
                assigner=dict(type='SimOTAAssigner', center_radius=2.5)))
    ours = MODELS.build(
        dict(
            type='YOLOXHead',
            head_module=dict(
                type='YOLOXHeadModule',
                num_classes=num_classes,
                in_channels=8,
                feat_channels=8),
            train_cfg=ConfigDict(
                assigner=dict(
                    type='mmdet.SimOTAAssigner',
                    center_radius=2.5,
                    iou_calculator=dict(type='mmdet.BboxOverlaps2D')))))
    return reference, ours


def _random_outputs(num_classes, batch=2):
    g = torch.Generator().manual_seed(0)
    sizes = [(12, 16), (6, 8), (3, 4)]
    cls = [
        torch.randn(batch, num_classes, h, w, generator=g) for h, w in sizes
    ]
    bbox = [torch.randn(batch, 4, h, w, generator=g) * 0.5 for h, w in sizes]
    obj = [torch.randn(batch, 1, h, w, generator=g) for h, w in sizes]
    return cls, bbox, obj


@pytest.mark.parametrize('use_bbox_aux', [False, True])
def test_losses_match_mmdet_yolox_head(use_bbox_aux):
    from mmengine.registry import DefaultScope
    reference, ours = _mmdet_and_yolokit_heads(num_classes=5)
    reference.use_l1 = use_bbox_aux
    ours.use_bbox_aux = use_bbox_aux
    cls, bbox, obj = _random_outputs(5)
    gts = [
        _gt([[10., 12., 60., 70.], [30., 5., 120., 90.]], [1, 3]),
        _gt([[0., 0., 20., 30.]], [4])
    ]
    metas = [dict(img_shape=(96, 128), batch_input_shape=(96, 128))] * 2
    with DefaultScope.overwrite_default_scope('mmdet'):
        expected = reference.loss_by_feat(cls, bbox, obj, gts, metas)
    losses = ours.loss_by_feat(cls, bbox, obj, gts, metas)
    renamed = {'loss_l1': 'loss_bbox_aux'}
    assert set(losses) == {renamed.get(k, k) for k in expected}
    for key, value in expected.items():
        torch.testing.assert_close(
            losses[renamed.get(key, key)], value, rtol=1e-6, atol=1e-6)


def test_predictions_match_mmdet_yolox_head():
    """Single-label YOLOX post-processing (score = cls * obj, threshold,
    class-wise NMS, no cap) gives MMDetection's detections; yolokit also
    clamps the boxes to the image."""
    from mmengine.registry import DefaultScope
    reference, ours = _mmdet_and_yolokit_heads(num_classes=5)
    cls, bbox, obj = _random_outputs(5)
    metas = [dict(img_shape=(96, 128))] * 2
    cfg = ConfigDict(
        yolox_style=True,
        multi_label=False,
        score_thr=0.05,
        max_per_img=300,
        nms=dict(type='nms', iou_threshold=0.65))
    with torch.no_grad():
        with DefaultScope.overwrite_default_scope('mmdet'):
            expected = reference.predict_by_feat(
                cls, bbox, obj, metas, cfg=cfg, rescale=False)
        results = ours.predict_by_feat(
            cls, bbox, obj, metas, cfg=cfg, rescale=False)
    for theirs, mine in zip(expected, results):
        assert len(mine) == len(theirs) > 100
        order_t = theirs.scores.argsort(descending=True)
        order_m = mine.scores.argsort(descending=True)
        boxes = theirs.bboxes[order_t].clone()
        boxes[:, 0::2].clamp_(0, 128)
        boxes[:, 1::2].clamp_(0, 96)
        torch.testing.assert_close(mine.bboxes[order_m], boxes)
        torch.testing.assert_close(mine.scores[order_m],
                                   theirs.scores[order_t])
        assert torch.equal(mine.labels[order_m], theirs.labels[order_t])
