"""RTMDetSepBNHeadModule (RTMDet "SepBN" head towers).

References: spec 06 §3.7 (signature; conv weights shared across levels with
per-level BN; predictors Conv2d(k, padding k // 2); init normal(0, 0.01),
unit norms, cls bias prior 0.01; outputs are ltrb distances in stride
units) and 02 §3.2. Functional reference: MMDetection 3.3's
``RTMDetSepBNHead`` with ``exp_on_reg=False``, whose box output is ours
multiplied by the stride.
"""
import inspect
import math

import pytest
import torch
import torch.nn as nn
from mmengine.registry import DefaultScope

from yolokit.models import RTMDetSepBNHeadModule


def test_signature_matches_spec():
    params = inspect.signature(RTMDetSepBNHeadModule.__init__).parameters
    assert list(params)[1:] == [
        'num_classes', 'in_channels', 'widen_factor', 'num_base_priors',
        'feat_channels', 'stacked_convs', 'featmap_strides', 'share_conv',
        'pred_kernel_size', 'conv_cfg', 'norm_cfg', 'act_cfg', 'init_cfg'
    ]
    defaults = {k: p.default for k, p in params.items()}
    assert defaults['num_base_priors'] == 1
    assert defaults['feat_channels'] == 256
    assert defaults['stacked_convs'] == 2
    assert defaults['featmap_strides'] == [8, 16, 32]
    assert defaults['share_conv'] is True
    assert defaults['pred_kernel_size'] == 1
    assert defaults['norm_cfg'] == dict(type='BN')
    assert defaults['act_cfg'] == dict(type='SiLU', inplace=True)


def test_shared_convs_separate_bn():
    module = RTMDetSepBNHeadModule(num_classes=3, in_channels=16,
                                   feat_channels=16)
    for towers in (module.cls_convs, module.reg_convs):
        for i in range(module.stacked_convs):
            weights = {id(towers[n][i].conv.weight) for n in range(3)}
            bns = {id(towers[n][i].bn) for n in range(3)}
            assert len(weights) == 1, 'conv weights must be shared'
            assert len(bns) == 3, 'each level keeps its own BN'
    # the cls and reg towers do not share with each other
    assert module.cls_convs[0][0].conv is not module.reg_convs[0][0].conv
    # predictors are per level
    assert len({id(m.weight) for m in module.rtm_cls}) == 3
    # a shared conv is one parameter: it appears once in parameters()
    num_params = sum(p.numel() for p in module.parameters())
    tower_conv = 16 * 16 * 9  # bias-free (followed by BN)
    bn = 2 * 16
    pred = (16 + 1) * 3 + (16 + 1) * 4
    assert num_params == 2 * (2 * tower_conv + 3 * 2 * bn) + 3 * pred


def test_unshared_convs():
    module = RTMDetSepBNHeadModule(
        num_classes=3, in_channels=16, feat_channels=16, share_conv=False)
    assert module.cls_convs[0][0].conv is not module.cls_convs[1][0].conv


def test_forward_shapes_and_widen_factor():
    module = RTMDetSepBNHeadModule(
        num_classes=5,
        in_channels=64,
        feat_channels=64,
        widen_factor=0.5,
        pred_kernel_size=3).eval()
    assert module.in_channels == 32 and module.feat_channels == 32
    assert module.rtm_cls[0].padding == (1, 1)
    feats = [torch.rand(2, 32, s, s) for s in (16, 8, 4)]
    with torch.no_grad():
        cls_scores, bbox_preds = module(feats)
    assert isinstance(cls_scores, tuple) and isinstance(bbox_preds, tuple)
    assert [tuple(c.shape) for c in cls_scores] == [(2, 5, s, s)
                                                    for s in (16, 8, 4)]
    assert [tuple(b.shape) for b in bbox_preds] == [(2, 4, s, s)
                                                    for s in (16, 8, 4)]
    with pytest.raises(ValueError, match='levels'):
        module(feats[:2])


def test_bad_arguments_are_rejected():
    with pytest.raises(TypeError, match='in_channels'):
        RTMDetSepBNHeadModule(num_classes=2, in_channels=[8, 16, 32])
    with pytest.raises(ValueError, match='num_classes'):
        RTMDetSepBNHeadModule(num_classes=0, in_channels=8)


def test_init_weights():
    torch.manual_seed(0)
    module = RTMDetSepBNHeadModule(
        num_classes=80, in_channels=128, feat_channels=128)
    for p in module.parameters():
        nn.init.constant_(p, 5.)
    module.init_weights()
    prior_bias = -math.log((1 - 0.01) / 0.01)  # bias_init_with_prob(0.01)
    for cls_conv, reg_conv in zip(module.rtm_cls, module.rtm_reg):
        torch.testing.assert_close(cls_conv.bias,
                                   torch.full_like(cls_conv.bias, prior_bias))
        assert torch.all(reg_conv.bias == 0)
    convs = [module.cls_convs[0][0].conv.weight, module.rtm_cls[0].weight]
    for w in convs:
        assert abs(w.std().item() - 0.01) < 0.002
        assert abs(w.mean().item()) < 0.002
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_same_outputs_as_mmdetection_sepbn_head():
    from mmdet.models.dense_heads import RTMDetSepBNHead
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        reference = RTMDetSepBNHead(
            num_classes=4,
            in_channels=16,
            feat_channels=16,
            stacked_convs=2,
            share_conv=True,
            exp_on_reg=False,
            with_objectness=False,
            norm_cfg=dict(type='BN'),
            act_cfg=dict(type='SiLU', inplace=True),
            anchor_generator=dict(
                type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]))
    for m in reference.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    module = RTMDetSepBNHeadModule(
        num_classes=4, in_channels=16, feat_channels=16)
    # MMDetection keeps the towers on the head itself, under the same
    # names as in the head module
    state = reference.state_dict()
    assert set(state) == set(module.state_dict())
    module.load_state_dict(state, strict=True)
    reference.eval()
    module.eval()
    feats = [torch.randn(1, 16, s, s) for s in (8, 4, 2)]
    with torch.no_grad():
        ref_cls, ref_reg = reference(feats)
        cls_scores, bbox_preds = module(feats)
    for stride, rc, rr, c, b in zip((8, 16, 32), ref_cls, ref_reg, cls_scores,
                                    bbox_preds):
        torch.testing.assert_close(c, rc, rtol=1e-5, atol=1e-6)
        # MMDetection multiplies the distances by the stride in forward
        torch.testing.assert_close(b * stride, rr, rtol=1e-5, atol=1e-5)
