"""CSPResLayer channel plan (MMYOLO 0.6.0 / PaddleDetection CSPResStage)."""
import pytest
import torch

from yolokit.models.layers import CSPResLayer


def test_stride2_plan_and_shape():
    # in 64, out 128: conv_down -> (64 + 128) // 2 = 96, branches 96 // 2 = 48
    layer = CSPResLayer(64, 128, num_block=1)  # backbone default blocks
    layer_s2 = CSPResLayer(64, 128, num_block=1, stride=2)
    assert layer.conv_down is None
    assert layer_s2.conv_down.conv.weight.shape == (96, 64, 3, 3)
    assert layer_s2.conv1.conv.weight.shape == (48, 96, 1, 1)
    assert layer_s2.conv2.conv.weight.shape == (48, 96, 1, 1)
    assert layer_s2.attn.fc.conv.weight.shape == (96, 96, 1, 1)
    assert layer_s2.conv3.conv.weight.shape == (128, 96, 1, 1)
    assert layer_s2(torch.randn(1, 64, 16, 8)).shape == (1, 128, 8, 4)


def test_stride1_neck_plan_with_spp():
    block = dict(type='PPYOLOEBasicBlock', shortcut=False, use_alpha=False)
    layer = CSPResLayer(96, 64, num_block=3, block_cfg=block,
                        attention_cfg=None, use_spp=True)
    # branches out // 2 = 32; conv3 merges 2 * 32 = out channels
    assert layer.conv1.conv.weight.shape == (32, 96, 1, 1)
    assert layer.conv3.conv.weight.shape == (64, 64, 1, 1)
    assert layer.attn is None
    # SPP goes right after the middle block, index (3 - 1) // 2 = 1
    assert [n for n, _ in layer.blocks.named_children()] == \
        ['0', '1', 'spp', '2']
    assert layer(torch.randn(2, 96, 8, 8)).shape == (2, 64, 8, 8)


def test_bad_stride():
    with pytest.raises(ValueError, match='stride'):
        CSPResLayer(8, 8, num_block=1, stride=3)
