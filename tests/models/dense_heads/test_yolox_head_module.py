"""YOLOXHeadModule: signature, key names, output shapes, init, objectness.

References: spec 06 §3.10 (signature, ``feat_channels = int(256 * widen)``,
an int ``in_channels`` is widened and a sequence used as-is, per-level
``multi_level_{cls,reg}_convs`` towers and ``multi_level_conv_{cls,reg,obj}``
1x1 predictors, objectness from the regression tower, cls/obj biases
``bias_init_with_prob(0.01)``) and §4 item 23.
"""
import inspect
import math

import pytest
import torch
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule

from yolokit.models import YOLOXHeadModule
from yolokit.registry import MODELS


def _module(**kwargs):
    cfg = dict(num_classes=3, in_channels=16, feat_channels=16)
    cfg.update(kwargs)
    return YOLOXHeadModule(**cfg)


def test_signature_defaults():
    params = inspect.signature(YOLOXHeadModule).parameters
    assert list(params) == [
        'num_classes', 'in_channels', 'widen_factor', 'num_base_priors',
        'feat_channels', 'stacked_convs', 'featmap_strides', 'use_depthwise',
        'dcn_on_last_conv', 'conv_bias', 'conv_cfg', 'norm_cfg', 'act_cfg',
        'init_cfg'
    ]
    assert params['feat_channels'].default == 256
    assert params['stacked_convs'].default == 2
    assert list(params['featmap_strides'].default) == [8, 16, 32]
    assert params['conv_bias'].default == 'auto'
    assert params['norm_cfg'].default == dict(
        type='BN', momentum=0.03, eps=0.001)
    assert params['act_cfg'].default == dict(type='SiLU', inplace=True)
    assert MODELS.get('YOLOXHeadModule') is YOLOXHeadModule


def test_state_dict_keys_yolox_s():
    module = YOLOXHeadModule(num_classes=80, in_channels=256, widen_factor=0.5)
    assert module.feat_channels == 128 and module.in_channels == 128
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    for level in range(3):
        for tower in ('cls', 'reg'):
            for j in range(2):
                prefix = f'multi_level_{tower}_convs.{level}.{j}'
                assert shapes[f'{prefix}.conv.weight'] == (128, 128, 3, 3)
                assert f'{prefix}.conv.bias' not in shapes  # BN follows
                assert shapes[f'{prefix}.bn.running_var'] == (128, )
        assert shapes[f'multi_level_conv_cls.{level}.weight'] == (80, 128, 1,
                                                                  1)
        assert shapes[f'multi_level_conv_reg.{level}.weight'] == (4, 128, 1, 1)
        assert shapes[f'multi_level_conv_obj.{level}.weight'] == (1, 128, 1, 1)
    assert len(shapes) == 3 * (2 * 2 * 6 + 6)


def test_forward_shapes():
    module = _module().eval()
    feats = [torch.rand(2, 16, s, s) for s in (8, 4, 2)]
    with torch.no_grad():
        cls_scores, bbox_preds, objectnesses = module(feats)
    for feat, cls, bbox, obj in zip(feats, cls_scores, bbox_preds,
                                    objectnesses):
        size = feat.shape[2:]
        assert cls.shape == (2, 3, *size)
        assert bbox.shape == (2, 4, *size)
        assert obj.shape == (2, 1, *size)


def test_sequence_in_channels_used_as_given():
    module = _module(in_channels=[8, 16, 32], widen_factor=0.5)
    assert module.feat_channels == 8
    first_convs = [tower[0].conv for tower in module.multi_level_cls_convs]
    assert [c.in_channels for c in first_convs] == [8, 16, 32]
    module.eval()
    feats = [torch.rand(1, c, 4, 4) for c in (8, 16, 32)]
    with torch.no_grad():
        cls_scores, _, _ = module(feats)
    assert all(c.shape == (1, 3, 4, 4) for c in cls_scores)


def test_init_weights_sets_prior_probability_biases():
    module = _module()
    module.init_weights()
    bias = -math.log((1 - 0.01) / 0.01)
    for conv in list(module.multi_level_conv_cls) + list(
            module.multi_level_conv_obj):
        assert torch.allclose(conv.bias, torch.full_like(conv.bias, bias))
    assert torch.sigmoid(torch.tensor(bias)).item() == pytest.approx(0.01)


def test_objectness_comes_from_the_regression_tower():
    module = _module().eval()
    feats = [torch.rand(1, 16, 4, 4) for _ in range(3)]
    with torch.no_grad():
        _, bbox_a, obj_a = module(feats)
        for conv in module.multi_level_cls_convs.parameters():
            conv.add_(1.0)
        cls_b, bbox_b, obj_b = module(feats)
        for param in module.multi_level_reg_convs[0].parameters():
            param.add_(0.5)
        _, bbox_c, obj_c = module(feats)
    assert all(torch.equal(a, b) for a, b in zip(obj_a, obj_b))
    assert all(torch.equal(a, b) for a, b in zip(bbox_a, bbox_b))
    assert not torch.allclose(obj_a[0], obj_c[0])
    assert torch.equal(obj_a[1], obj_c[1])


def test_depthwise_towers_and_conv_bias():
    module = _module(use_depthwise=True, stacked_convs=3)
    towers = list(module.multi_level_cls_convs) + list(
        module.multi_level_reg_convs)
    assert all(len(t) == 3 for t in towers)
    assert all(
        isinstance(m, DepthwiseSeparableConvModule) for t in towers for m in t)
    module = _module(norm_cfg=None)
    conv = module.multi_level_cls_convs[0][0]
    assert isinstance(conv, ConvModule) and conv.conv.bias is not None
    module = _module(conv_bias=True)
    assert module.multi_level_reg_convs[1][1].conv.bias is not None
    with pytest.raises(ValueError, match='conv_bias'):
        _module(conv_bias='yes')


def test_level_count_mismatch():
    module = _module(featmap_strides=[8, 16])
    with pytest.raises(ValueError, match='2 levels'):
        module([torch.rand(1, 16, 4, 4)] * 3)
