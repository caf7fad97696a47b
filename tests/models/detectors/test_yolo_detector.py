"""YOLODetector: a mmdet single-stage detector with optional SyncBN.

References: spec 06 §4 / spec 07 §1.1 (subclass of mmdet
``SingleStageDetector``; ``mode='loss'`` -> dict, ``'predict'`` -> one
``DetDataSample`` per image, ``'tensor'`` -> tuple; BN is converted to
SyncBN only when ``use_syncbn`` and world size > 1).

The head used here is MMDetection's ``YOLOV3Head`` so the detector is
tested on its own; a full YOLOv5 model is built at the end when yolokit's
YOLOv5 head and its dependencies are registered.
"""
import copy
import inspect

import pytest
import torch
import torch.nn as nn
from mmdet.models.detectors import SingleStageDetector
from mmdet.structures import DetDataSample
from mmdet.testing import demo_mm_inputs
from mmengine.config import ConfigDict

from yolokit.models.detectors import YOLODetector
from yolokit.registry import MODELS, TASK_UTILS

NUM_CLASSES = 4
CHANNELS = [64, 128, 256]  # neck outputs of the tiny config below

TINY_V3_DETECTOR = dict(
    type='YOLODetector',
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        mean=[0., 0., 0.],
        std=[255., 255., 255.],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='YOLOv5CSPDarknet', deepen_factor=0.33, widen_factor=0.25),
    neck=dict(
        type='YOLOv5PAFPN',
        deepen_factor=0.33,
        widen_factor=0.25,
        in_channels=[256, 512, 1024],
        out_channels=[256, 512, 1024],
        num_csp_blocks=3),
    bbox_head=dict(
        type='mmdet.YOLOV3Head',
        num_classes=NUM_CLASSES,
        in_channels=CHANNELS,
        out_channels=CHANNELS,
        anchor_generator=dict(
            type='mmdet.YOLOAnchorGenerator',
            base_sizes=[[(10, 13), (16, 30), (33, 23)],
                        [(30, 61), (62, 45), (59, 119)],
                        [(116, 90), (156, 198), (373, 326)]],
            strides=[8, 16, 32]),
        featmap_strides=[8, 16, 32]),
    train_cfg=dict(
        assigner=dict(
            type='mmdet.GridAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.5,
            min_pos_iou=0)),
    test_cfg=dict(
        nms_pre=100,
        min_bbox_size=0,
        score_thr=0.0,
        conf_thr=0.0,
        nms=dict(type='nms', iou_threshold=0.45),
        max_per_img=10))


def _build(cfg: dict) -> YOLODetector:
    # As from a config file: mmdet heads read test_cfg attributes.
    return MODELS.build(ConfigDict(copy.deepcopy(cfg)))


def _inputs(batch_size=2):
    return demo_mm_inputs(
        batch_size=batch_size,
        image_shapes=(3, 64, 64),
        num_classes=NUM_CLASSES)


def test_signature():
    params = inspect.signature(YOLODetector).parameters
    assert list(params) == [
        'backbone', 'neck', 'bbox_head', 'train_cfg', 'test_cfg',
        'data_preprocessor', 'init_cfg', 'use_syncbn'
    ]
    assert params['use_syncbn'].default is True
    assert issubclass(YOLODetector, SingleStageDetector)


def test_modes():
    torch.manual_seed(0)
    model = _build(TINY_V3_DETECTOR)
    assert isinstance(model, YOLODetector)
    # train_cfg / test_cfg are handed to the head by SingleStageDetector
    assert model.bbox_head.train_cfg is not None
    assert model.bbox_head.test_cfg['max_per_img'] == 10

    model.train()
    data = model.data_preprocessor(_inputs(), True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert isinstance(losses, dict) and losses
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for v in losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.stem.conv.weight.grad is not None

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_inputs(), False)
        preds = model(data['inputs'], data['data_samples'], mode='predict')
        feats = model(data['inputs'], data['data_samples'], mode='tensor')
    assert len(preds) == 2 and all(isinstance(p, DetDataSample) for p in preds)
    assert all(len(p.pred_instances) <= 10 for p in preds)
    assert isinstance(feats, tuple)

    # extract_feat = neck(backbone(x))
    with torch.no_grad():
        x = torch.rand(1, 3, 64, 64)
        expected = model.neck(model.backbone(x))
        got = model.extract_feat(x)
    assert [tuple(f.shape) for f in got] == [(1, 64, 8, 8), (1, 128, 4, 4),
                                             (1, 256, 2, 2)]
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def _bn_types(model):
    return {
        type(m)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }


def test_single_process_keeps_batchnorm():
    model = _build(TINY_V3_DETECTOR)
    assert _bn_types(model) == {nn.BatchNorm2d}


@pytest.mark.parametrize('use_syncbn, expected', [
    (True, {nn.SyncBatchNorm}),
    (False, {nn.BatchNorm2d}),
])
def test_syncbn_only_with_several_processes(monkeypatch, use_syncbn, expected):
    import yolokit.models.detectors.yolo_detector as module
    monkeypatch.setattr(module, 'get_world_size', lambda: 2)
    cfg = copy.deepcopy(TINY_V3_DETECTOR)
    cfg['use_syncbn'] = use_syncbn
    model = _build(cfg)
    assert _bn_types(model) == expected


def _yolov5_components_registered():
    names = [(MODELS, 'YOLOv5Head'), (MODELS, 'YOLOv5HeadModule'),
             (MODELS, 'IoULoss'), (TASK_UTILS, 'YOLOv5BBoxCoder')]
    return [name for reg, name in names if name not in reg]


def test_full_yolov5_detector():
    missing = _yolov5_components_registered()
    if missing:
        pytest.skip(f'YOLOv5 head dependencies not registered yet: {missing}')
    cfg = copy.deepcopy(TINY_V3_DETECTOR)
    # The tiny config's mmdet DetDataPreprocessor gives list-of-DetDataSample
    # batches, which YOLOv5Head.loss accepts as well as the fast format.
    cfg['bbox_head'] = dict(
        type='YOLOv5Head',
        head_module=dict(
            type='YOLOv5HeadModule',
            num_classes=NUM_CLASSES,
            in_channels=[256, 512, 1024],
            widen_factor=0.25,
            featmap_strides=[8, 16, 32],
            num_base_priors=3))
    cfg['train_cfg'] = None
    cfg['test_cfg'] = dict(
        multi_label=True,
        nms_pre=100,
        score_thr=0.001,
        nms=dict(type='nms', iou_threshold=0.65),
        max_per_img=10)
    model = _build(cfg)
    model.train()
    data = model.data_preprocessor(_inputs(), True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert set(losses) == {'loss_cls', 'loss_obj', 'loss_bbox'}
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_inputs(), False)
        preds = model(data['inputs'], data['data_samples'], mode='predict')
    assert len(preds) == 2 and all(isinstance(p, DetDataSample) for p in preds)
