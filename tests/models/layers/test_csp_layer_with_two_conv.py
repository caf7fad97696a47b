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


def _set_conv(conv_module, weight):
    conv = conv_module.conv
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(weight).view_as(conv.weight))
        conv.bias.zero_()


def test_forward_by_hand_split_chain_concat():
    # No norm, no act: every conv is linear. in 1, out 2, m = 1, one block.
    # main_conv (1x1) weights (2, 3): a = 2x, b0 = 3x (split order).
    # The block's two 3x3 convs are a centre tap of 2 and of 1: b1 = 2 b0.
    # final_conv (1x1) rows (1, 1, 1) and (1, 10, 100) over cat(a, b0, b1):
    # y0 = 2x + 3x + 6x = 11x, y1 = 2x + 30x + 600x = 632x.
    layer = CSPLayerWithTwoConv(
        1, 2, num_blocks=1, add_identity=False, norm_cfg=None,
        act_cfg=None).eval()
    centre = torch.zeros(3, 3)
    centre[1, 1] = 1.
    _set_conv(layer.main_conv, [2., 3.])
    _set_conv(layer.blocks[0].conv1, 2 * centre)
    _set_conv(layer.blocks[0].conv2, centre)
    _set_conv(layer.final_conv, [[1., 1., 1.], [1., 10., 100.]])
    x = torch.arange(12.).view(1, 1, 3, 4)
    with torch.no_grad():
        out = layer(x)
    torch.testing.assert_close(out, torch.cat([11 * x, 632 * x], dim=1))


def test_expand_ratio_and_zero_blocks():
    layer = CSPLayerWithTwoConv(4, 12, expand_ratio=0.25, num_blocks=0)
    assert layer.main_conv.conv.out_channels == 6  # 2 * int(12 * 0.25)
    assert layer.final_conv.conv.in_channels == 6
    assert layer(torch.rand(1, 4, 3, 3)).shape == (1, 12, 3, 3)
    with pytest.raises(ValueError, match='expand_ratio'):
        CSPLayerWithTwoConv(4, 1, expand_ratio=0.5)
