"""CSPLayerWithTwoConv (C2f), spec 07 section 2.3."""
import pytest
import torch

from yolokit.models.layers import CSPLayerWithTwoConv, DarknetBottleneck


def test_structure_and_shape():
    layer = CSPLayerWithTwoConv(8, 16, num_blocks=2)
    # mid = int(16 * 0.5) = 8; main 8 -> 16, final (2 + 2) * 8 -> 16
    assert layer.main_conv.conv.in_channels == 8
    assert layer.main_conv.conv.out_channels == 16
    assert layer.final_conv.conv.in_channels == 32
    assert layer.final_conv.conv.out_channels == 16
    assert len(layer.blocks) == 2
    for block in layer.blocks:
        assert isinstance(block, DarknetBottleneck)
        assert block.conv1.conv.kernel_size == (3, 3)
        assert block.conv2.conv.kernel_size == (3, 3)
        assert block.conv1.conv.out_channels == 8  # expansion 1
        assert block.add_identity
    assert [name for name, _ in layer.named_children()
            ] == ['main_conv', 'final_conv', 'blocks']
    assert layer(torch.rand(2, 8, 6, 5)).shape == (2, 16, 6, 5)


def test_forward_is_split_chain_concat():
    torch.manual_seed(0)
    layer = CSPLayerWithTwoConv(6, 8, num_blocks=2, add_identity=False).eval()
    assert not any(b.add_identity for b in layer.blocks)
    x = torch.rand(1, 6, 4, 4)
    with torch.no_grad():
        y = layer.main_conv(x)
        a, b = y[:, :4], y[:, 4:]
        c = layer.blocks[0](b)
        d = layer.blocks[1](c)
        expected = layer.final_conv(torch.cat([a, b, c, d], 1))
        assert torch.allclose(layer(x), expected)


def test_expand_ratio_and_zero_blocks():
    layer = CSPLayerWithTwoConv(4, 12, expand_ratio=0.25, num_blocks=0)
    assert layer.main_conv.conv.out_channels == 6  # 2 * int(12 * 0.25)
    assert layer.final_conv.conv.in_channels == 6
    assert layer(torch.rand(1, 4, 3, 3)).shape == (1, 12, 3, 3)
    with pytest.raises(ValueError, match='expand_ratio'):
        CSPLayerWithTwoConv(4, 1, expand_ratio=0.5)
