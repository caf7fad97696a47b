"""DarknetBottleneck with per-conv kernel sizes (spec 07 section 2.4)."""
import pytest
import torch
from mmcv.cnn import DepthwiseSeparableConvModule

from yolokit.models.layers import DarknetBottleneck


def test_default_kernels_and_identity():
    block = DarknetBottleneck(8, 8).eval()
    assert block.conv1.conv.kernel_size == (1, 1)
    assert block.conv1.conv.out_channels == 4  # int(8 * 0.5)
    assert block.conv2.conv.kernel_size == (3, 3)
    assert block.conv2.conv.padding == (1, 1)
    assert block.add_identity
    assert block.conv1.norm_cfg == dict(type='BN', momentum=0.03, eps=0.001)
    assert isinstance(block.conv1.activate, torch.nn.SiLU)
    x = torch.rand(2, 8, 5, 6)
    with torch.no_grad():
        out = block(x)
        assert torch.allclose(out, block.conv2(block.conv1(x)) + x)


def test_yolov8_kernels_and_no_identity_for_channel_change():
    block = DarknetBottleneck(
        4, 6, expansion=1, kernel_size=(3, 3), padding=(1, 1)).eval()
    assert block.conv1.conv.kernel_size == (3, 3)
    assert block.conv1.conv.padding == (1, 1)
    assert block.conv1.conv.out_channels == 6
    # in != out: the residual would not fit, so it is off
    assert not block.add_identity
    x = torch.rand(1, 4, 7, 7)
    with torch.no_grad():
        assert torch.allclose(block(x), block.conv2(block.conv1(x)))


def test_add_identity_off_and_depthwise():
    block = DarknetBottleneck(4, 4, add_identity=False, use_depthwise=True)
    assert not block.add_identity
    assert isinstance(block.conv2, DepthwiseSeparableConvModule)
    assert block(torch.rand(1, 4, 5, 5)).shape == (1, 4, 5, 5)


@pytest.mark.parametrize('bad', [(3, ), 3, (1, 3, 3)])
def test_bad_kernel_size(bad):
    with pytest.raises(ValueError, match='kernel_size'):
        DarknetBottleneck(4, 4, kernel_size=bad)
