"""DarknetBottleneck with per-conv kernel sizes (spec 07 section 2.4)."""
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule
from mmdet.models.layers.csp_layer import \
    DarknetBottleneck as MMDetDarknetBottleneck

from yolokit.models.layers import DarknetBottleneck


def _plain(block: DarknetBottleneck) -> DarknetBottleneck:
    """All-ones kernels, zero biases (no norm, no act): the convs become
    channel sums / box sums that can be computed by hand."""
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return block.eval()


def test_default_kernels_and_identity():
    block = DarknetBottleneck(8, 8).eval()
    assert block.conv1.conv.kernel_size == (1, 1)
    assert block.conv1.conv.out_channels == 4  # int(8 * 0.5)
    assert block.conv2.conv.kernel_size == (3, 3)
    assert block.conv2.conv.padding == (1, 1)
    assert block.add_identity
    assert block.conv1.norm_cfg == dict(type='BN', momentum=0.03, eps=0.001)
    assert isinstance(block.conv1.activate, torch.nn.SiLU)
    assert isinstance(block, MMDetDarknetBottleneck)
    assert sorted(block.state_dict()) == sorted(
        MMDetDarknetBottleneck(8, 8).state_dict())


def test_forward_by_hand_with_shortcut():
    # in = out = 2, hidden = 1. conv1 (1x1, ones) sums the two channels:
    # 1 + 1 = 2 on a ones input. conv2 (3x3, ones, zero padding) box-sums
    # that map: 9 * 2 = 18 inside, 6 * 2 = 12 on an edge, 4 * 2 = 8 in a
    # corner, on both output channels. The shortcut adds the input (1).
    block = _plain(DarknetBottleneck(2, 2, norm_cfg=None, act_cfg=None))
    with torch.no_grad():
        out = block(torch.ones(1, 2, 3, 3))
    expected = torch.tensor([[9., 13., 9.], [13., 19., 13.], [9., 13., 9.]])
    torch.testing.assert_close(out, expected.expand(1, 2, 3, 3))


def test_yolov8_kernels_by_hand_without_shortcut():
    # (3, 3) kernels, expansion 1, in 1 != out 2: no shortcut. On a single
    # 1 at the centre of a 5x5 map conv1 (3x3 ones) spreads it to the 3x3
    # centre block; conv2 (ones, 1 -> 2 channels) counts, per pixel, the
    # ones in its 3x3 window: 9 in the centre, 1 in the corners.
    block = _plain(
        DarknetBottleneck(
            1,
            2,
            expansion=1,
            kernel_size=(3, 3),
            padding=(1, 1),
            norm_cfg=None,
            act_cfg=None))
    assert block.conv1.conv.kernel_size == (3, 3)
    assert block.conv1.conv.out_channels == 2  # int(2 * 1)
    assert not block.add_identity
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.
    with torch.no_grad():
        out = block(x)
    # conv1 has 2 output channels, each the 3x3 block; conv2 sums both
    row = torch.tensor([1., 2., 3., 2., 1.])
    expected = 2 * row[:, None] * row[None, :]
    torch.testing.assert_close(out, expected.expand(1, 2, 5, 5))


def test_add_identity_off_and_depthwise():
    block = DarknetBottleneck(4, 4, add_identity=False, use_depthwise=True)
    assert not block.add_identity
    assert isinstance(block.conv2, DepthwiseSeparableConvModule)
    assert not isinstance(block.conv1, DepthwiseSeparableConvModule)
    assert block(torch.rand(1, 4, 5, 5)).shape == (1, 4, 5, 5)


@pytest.mark.parametrize('name', ['kernel_size', 'padding'])
@pytest.mark.parametrize('bad', [(3, ), 3, (1, 3, 3)])
def test_bad_kernel_size_or_padding(name, bad):
    with pytest.raises(ValueError, match=name):
        DarknetBottleneck(4, 4, **{name: bad})
