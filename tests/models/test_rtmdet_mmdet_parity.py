"""yolokit's RTMDet-tiny against MMDetection 3.3's RTMDet-tiny.

MMDetection ships RTMDet (``mmdet.models.detectors.RTMDet`` with
``CSPNeXt``, ``CSPNeXtPAFPN`` and ``RTMDetSepBNHead``) and its
``configs/rtmdet/rtmdet_tiny_8xb32-300e_coco.py`` in the installed package.
One set of random weights (BatchNorm statistics and predictors randomised
so that the outputs are not trivial) is loaded into both models, through
``tools/model_converters/rtmdet_to_yolokit.py`` for yolokit. On a real
photo:

* backbone, neck and head outputs agree (MMDetection's box output is
  yolokit's multiplied by the stride: yolokit applies the stride when
  decoding);
* the detections agree. MMDetection clamps boxes to the image *before* NMS
  (``DistancePointBBoxCoder(clip_border=True)``), yolokit/MMYOLO clamps
  the detections *after* NMS, so the comparison builds MMDetection's coder
  with ``clip_border=False`` and clamps its output afterwards;
* the training losses on the same batch and targets agree: both assign with
  the dynamic soft label algorithm and use the same QFL/GIoU losses and
  normalisation.

Adjustments for a single CPU process: SyncBN -> BN, no pretrained backbone
download.
"""
import importlib.util
import os.path as osp

import cv2
import mmdet
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from yolokit.registry import MODELS, TRANSFORMS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
YOLOKIT_CONFIG = osp.join(REPO_ROOT, 'configs', 'rtmdet',
                          'rtmdet_tiny_syncbn_fast_8xb32-300e_coco.py')
MMDET_CONFIG = osp.join(
    osp.dirname(mmdet.__file__), '.mim', 'configs', 'rtmdet',
    'rtmdet_tiny_8xb32-300e_coco.py')
STRIDES = (8, 16, 32)
H, W = 480, 640  # network input, no padding
MEAN = torch.tensor([103.53, 116.28, 123.675]).view(1, 3, 1, 1)
STD = torch.tensor([57.375, 57.12, 58.395]).view(1, 3, 1, 1)


def _converter():
    spec = importlib.util.spec_from_file_location(
        'rtmdet_to_yolokit',
        osp.join(REPO_ROOT, 'tools', 'model_converters',
                 'rtmdet_to_yolokit.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mmdet_model_cfg() -> ConfigDict:
    if osp.isfile(MMDET_CONFIG):
        model = Config.fromfile(MMDET_CONFIG).model
    else:  # the same model written out (values of MMDetection 3.3's config)
        model = ConfigDict(
            type='RTMDet',
            data_preprocessor=dict(
                type='DetDataPreprocessor',
                mean=[103.53, 116.28, 123.675],
                std=[57.375, 57.12, 58.395],
                bgr_to_rgb=False),
            backbone=dict(
                type='CSPNeXt',
                arch='P5',
                expand_ratio=0.5,
                deepen_factor=0.167,
                widen_factor=0.375,
                channel_attention=True,
                act_cfg=dict(type='SiLU', inplace=True)),
            neck=dict(
                type='CSPNeXtPAFPN',
                in_channels=[96, 192, 384],
                out_channels=96,
                num_csp_blocks=1,
                expand_ratio=0.5,
                act_cfg=dict(type='SiLU', inplace=True)),
            bbox_head=dict(
                type='RTMDetSepBNHead',
                num_classes=80,
                in_channels=96,
                stacked_convs=2,
                feat_channels=96,
                anchor_generator=dict(
                    type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
                bbox_coder=dict(type='DistancePointBBoxCoder'),
                loss_cls=dict(
                    type='QualityFocalLoss',
                    use_sigmoid=True,
                    beta=2.0,
                    loss_weight=1.0),
                loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
                with_objectness=False,
                exp_on_reg=False,
                share_conv=True,
                pred_kernel_size=1,
                act_cfg=dict(type='SiLU', inplace=True)),
            train_cfg=dict(
                assigner=dict(type='DynamicSoftLabelAssigner', topk=13),
                allowed_border=-1,
                pos_weight=-1,
                debug=False),
            test_cfg=dict(
                nms_pre=30000,
                min_bbox_size=0,
                score_thr=0.001,
                nms=dict(type='nms', iou_threshold=0.65),
                max_per_img=300))
    model.backbone.init_cfg = None  # no download
    for part in (model.backbone, model.neck, model.bbox_head):
        part.norm_cfg = dict(type='BN')  # SyncBN needs a process group
    model.bbox_head.bbox_coder = dict(
        type='DistancePointBBoxCoder', clip_border=False)
    assert model.bbox_head.exp_on_reg is False
    assert model.bbox_head.with_objectness is False
    return model


@pytest.fixture(scope='module')
def models():
    """``(mmdet_model, yolokit_model)`` holding the same weights."""
    # seeded before the build: init_weights leaves some of the weights
    # drawn at construction, which would otherwise follow whatever the
    # tests before this one did to the global generator
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        reference = MMDET_MODELS.build(_mmdet_model_cfg())
        reference.init_weights()
    g = torch.Generator().manual_seed(1)
    for m in reference.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    head = reference.bbox_head
    for conv in head.rtm_cls:
        conv.weight.data.normal_(0, 0.2, generator=g)
        conv.bias.data.uniform_(-6, -3, generator=g)
    for conv in head.rtm_reg:
        conv.weight.data.normal_(0, 0.05, generator=g)
        conv.bias.data.uniform_(1, 3, generator=g)  # boxes of 2-6 strides
    reference.eval()

    cfg = Config.fromfile(YOLOKIT_CONFIG)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    converted = _converter().convert_state_dict(reference.state_dict())
    model.load_state_dict(converted, strict=True)
    model.eval()
    return reference, model, cfg


@pytest.fixture(scope='module')
def photo(images_dir, models):
    """demo.jpg resized to 640 x 480 (W x H), a multiple of every stride.

    No letterbox padding: padded areas give many exactly equal scores, and
    NMS may then keep either of two tied boxes, which would make the
    comparison depend on sort stability instead of on the models.
    """
    img = cv2.imread(osp.join(images_dir, 'demo.jpg'))
    assert img is not None
    ori_h, ori_w = img.shape[:2]
    resized = cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR)
    results = dict(
        img=resized,
        img_shape=(H, W),
        ori_shape=(ori_h, ori_w),
        scale_factor=(W / ori_w, H / ori_h),
        pad_param=np.zeros(4, dtype=np.float32))
    inputs = torch.from_numpy(resized).permute(2, 0, 1)[None].float()
    inputs = (inputs - MEAN) / STD  # BGR, as both configs (bgr_to_rgb=False)
    return inputs, results


def test_raw_outputs_match(models, photo):
    reference, model, _ = models
    inputs, _ = photo
    with torch.no_grad():
        ref_backbone = reference.backbone(inputs)
        backbone = model.backbone(inputs)
        ref_neck = reference.neck(ref_backbone)
        neck = model.neck(backbone)
        ref_cls, ref_reg = reference.bbox_head(ref_neck)
        cls_scores, bbox_preds = model.bbox_head(neck)
    # MMDetection's SPP (parallel 5/9/13 max-pools) and yolokit's SPPF
    # (three chained 5x5 max-pools) are the same function
    for expected, actual in zip(ref_backbone, backbone):
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    for expected, actual in zip(ref_neck, neck):
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    for stride, rc, rr, c, b in zip(STRIDES, ref_cls, ref_reg, cls_scores,
                                    bbox_preds):
        assert c.shape == rc.shape == (1, 80, H // stride, W // stride)
        torch.testing.assert_close(c, rc, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(b * stride, rr, rtol=1e-5, atol=1e-4)


def _sorted_rows(result: InstanceData) -> torch.Tensor:
    rows = torch.cat([
        result.labels[:, None].float(), result.scores[:, None], result.bboxes
    ], 1)
    order = np.lexsort(rows.numpy().T[::-1])
    return rows[torch.from_numpy(order.copy())]


def test_detections_match(models, photo):
    reference, model, _ = models
    inputs, results = photo
    with torch.no_grad():
        ref_outs = reference.bbox_head(reference.neck(
            reference.backbone(inputs)))
        outs = model.bbox_head(model.neck(model.backbone(inputs)))
    score_thr = 0.05  # the example threshold of spec 02 §3.6
    # every candidate fits under nms_pre on both sides (MMDetection caps per
    # level, yolokit over all levels)
    num_candidates = sum(int((c.sigmoid() > score_thr).sum())
                         for c in ref_outs[0])
    assert 20 < num_candidates < 30000
    meta = dict(
        img_shape=(H, W),
        ori_shape=tuple(results['ori_shape']),
        pad_shape=(H, W),
        batch_input_shape=(H, W),
        scale_factor=tuple(results['scale_factor']),
        pad_param=results['pad_param'])
    nms = dict(type='nms', iou_threshold=0.65)
    with torch.no_grad():
        expected = reference.bbox_head.predict_by_feat(
            *ref_outs,
            batch_img_metas=[meta],
            cfg=ConfigDict(
                nms_pre=30000, score_thr=score_thr, nms=nms, max_per_img=300),
            rescale=False)[0]
        actual = model.bbox_head.predict_by_feat(
            *outs,
            batch_img_metas=[meta],
            cfg=dict(
                multi_label=True,
                nms_pre=30000,
                score_thr=score_thr,
                nms=nms,
                max_per_img=300),
            rescale=False)[0]
        on_photo = model.bbox_head.predict_by_feat(
            *outs,
            batch_img_metas=[meta],
            cfg=dict(
                multi_label=True,
                nms_pre=30000,
                score_thr=score_thr,
                nms=nms,
                max_per_img=300),
            rescale=True)[0]
    assert len(expected) > 10
    expected.bboxes[:, 0::2].clamp_(0, W)
    expected.bboxes[:, 1::2].clamp_(0, H)
    torch.testing.assert_close(
        _sorted_rows(actual), _sorted_rows(expected), rtol=1e-5, atol=1e-3)

    # rescaled to the original photo: remove the padding (none here),
    # divide by the scale factor, clamp to the photo
    top, _, left, _ = results['pad_param']
    scale = torch.tensor(results['scale_factor'], dtype=torch.float32)
    ori_h, ori_w = results['ori_shape']
    boxes = expected.bboxes.clone()
    boxes -= torch.tensor([left, top, left, top], dtype=torch.float32)
    boxes /= scale.repeat(2)
    boxes[:, 0::2].clamp_(0, ori_w)
    boxes[:, 1::2].clamp_(0, ori_h)
    expected.bboxes = boxes
    torch.testing.assert_close(
        _sorted_rows(on_photo), _sorted_rows(expected), rtol=1e-5, atol=1e-3)


def test_losses_match(models, photo):
    reference, model, _ = models
    inputs, _ = photo
    batch = torch.cat([inputs, inputs.flip(-1)])
    gts = [
        InstanceData(
            bboxes=torch.tensor([[100., 150., 300., 400.],
                                 [350., 200., 500., 450.],
                                 [50., 50., 120., 110.],
                                 [400., 40., 430., 70.]]),
            labels=torch.tensor([0, 2, 5, 0])),
        InstanceData(
            bboxes=torch.tensor([[10., 300., 600., 470.]]),
            labels=torch.tensor([7])),
    ]
    metas = [
        dict(
            img_shape=(H, W),
            pad_shape=(H, W),
            batch_input_shape=(H, W))
    ] * 2
    with torch.no_grad():
        ref_outs = reference.bbox_head(reference.neck(
            reference.backbone(batch)))
        outs = model.bbox_head(model.neck(model.backbone(batch)))
        with DefaultScope.overwrite_default_scope('mmdet'):
            expected = reference.bbox_head.loss_by_feat(*ref_outs, gts, metas)
        actual = model.bbox_head.loss_by_feat(*outs, gts, metas)
    # MMDetection returns one value per level, already normalised by the
    # same batch-wide factor: their sum is the loss
    for key in ('loss_cls', 'loss_bbox'):
        expected_total = sum(expected[key])
        assert expected_total > 0
        torch.testing.assert_close(
            actual[key], expected_total, rtol=1e-5, atol=1e-7)
