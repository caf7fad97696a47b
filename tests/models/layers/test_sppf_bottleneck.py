"""SPPFBottleneck: shapes, channel arithmetic, and outputs worked by hand.

References: spec 07 §2.15 (shapes, ``mid = int(in * scale)``, conv2 input
``4 * mid`` for an int kernel and ``mid * (len + 1)`` for a sequence) and
the known SPPF/SPP equivalence: max-pooling with k=5 (stride 1, 'same'
padding) applied twice equals one k=9 pooling, three times a k=13 pooling.
"""
import pytest
import torch
import torch.nn as nn

from yolokit.models.layers import SPPFBottleneck
from yolokit.models.layers.sppf_bottleneck import serial_pyramid


def _randomize_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def test_default_shapes_and_layers():
    model = SPPFBottleneck(3, 16)
    out = model(torch.rand(1, 3, 20, 20))
    assert out.shape == (1, 16, 20, 20)  # spec 07 §2.15 upstream test
    assert model.conv1.conv.in_channels == 3
    assert model.conv1.conv.out_channels == 1  # int(3 * 0.5)
    assert isinstance(model.poolings, nn.MaxPool2d)
    assert model.poolings.kernel_size == 5
    assert model.poolings.stride == 1
    assert model.poolings.padding == 2
    assert model.conv2.conv.in_channels == 4  # 4 * mid
    assert model.conv2.conv.out_channels == 16
    # default norm/act per signature: BN(momentum=0.03, eps=0.001) + SiLU
    assert model.conv1.bn.momentum == 0.03 and model.conv1.bn.eps == 0.001
    assert isinstance(model.conv2.activate, nn.SiLU)


def test_state_dict_keys():
    keys = set(SPPFBottleneck(8, 8).state_dict())
    # The key layout MMYOLO checkpoints use (see module_trees: stage4.2.*).
    assert 'conv1.conv.weight' in keys
    assert 'conv2.bn.running_var' in keys
    assert not any(k.startswith('poolings') for k in keys)


@pytest.mark.parametrize('kernel_sizes', [[3, 5, 7], (3, 5, 7, 9), [5]])
def test_sequence_kernels_build_parallel_poolings(kernel_sizes):
    model = SPPFBottleneck(16, 8, kernel_sizes=kernel_sizes)
    assert isinstance(model.poolings, nn.ModuleList)
    assert [p.kernel_size for p in model.poolings] == list(kernel_sizes)
    assert model.conv2.conv.in_channels == 8 * (len(kernel_sizes) + 1)
    assert model(torch.rand(2, 16, 13, 11)).shape == (2, 8, 13, 11)


def test_use_conv_first_false_and_mid_channels_scale():
    model = SPPFBottleneck(6, 10, use_conv_first=False)
    assert model.conv1 is None
    assert model.conv2.conv.in_channels == 24  # mid = in = 6, 4 * 6
    assert model(torch.rand(1, 6, 9, 9)).shape == (1, 10, 9, 9)

    model = SPPFBottleneck(16, 4, mid_channels_scale=0.25)
    assert model.conv1.conv.out_channels == 4
    assert model.conv2.conv.in_channels == 16

    # the scale is ignored without conv1
    model = SPPFBottleneck(6, 4, use_conv_first=False, mid_channels_scale=2)
    assert model.conv2.conv.in_channels == 24


def _linear_sppf(**kwargs) -> SPPFBottleneck:
    """No norm or act; conv1 (if any) sums the input channels and conv2
    weighs the pyramid maps by 1, 10, 100, 1000."""
    model = SPPFBottleneck(norm_cfg=None, act_cfg=None, **kwargs).eval()
    with torch.no_grad():
        if model.conv1 is not None:
            model.conv1.conv.weight.fill_(1.)
            model.conv1.conv.bias.zero_()
        w = model.conv2.conv.weight
        w.copy_(10.**torch.arange(w.shape[1]).view_as(w))
        model.conv2.conv.bias.zero_()
    return model


def _ramp(width: int = 9) -> torch.Tensor:
    return torch.arange(float(width)).view(1, 1, 1, width)


def test_serial_pooling_by_hand():
    # Input (1, 2, 1, 9): channel 0 the ramp r_j = j, channel 1 zeros, so
    # conv1 (sum) gives r. A stride-1 k=5 max-pool of an increasing ramp
    # is min(j + 2, 8); applied twice min(j + 4, 8), thrice min(j + 6, 8).
    model = _linear_sppf(in_channels=2, out_channels=1, kernel_sizes=5)
    assert model.conv1.conv.out_channels == 1  # int(2 * 0.5)
    x = torch.cat([_ramp(), torch.zeros(1, 1, 1, 9)], dim=1)
    j = torch.arange(9.)
    expected = (
        j + 10 * (j + 2).clamp(max=8) + 100 * (j + 4).clamp(max=8) + 1000 *
        (j + 6).clamp(max=8))
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected.view(1, 1, 1, 9))


def test_parallel_pooling_without_conv1_by_hand():
    # kernel sizes (3, 7) on the ramp: min(j + 1, 8) and min(j + 3, 8).
    model = _linear_sppf(
        in_channels=1,
        out_channels=1,
        kernel_sizes=(3, 7),
        use_conv_first=False)
    j = torch.arange(9.)
    expected = j + 10 * (j + 1).clamp(max=8) + 100 * (j + 3).clamp(max=8)
    with torch.no_grad():
        torch.testing.assert_close(model(_ramp()), expected.view(1, 1, 1, 9))


def test_serial_pyramid_channels_and_depth():
    # a 2x2 map [[1, 2], [3, 4]] under a k=3 'same' max-pool is all 4s
    x = torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)
    out = serial_pyramid(x, nn.MaxPool2d(3, 1, 1), depth=2)
    assert out.shape == (1, 3, 2, 2)
    torch.testing.assert_close(out[0, 0], x[0, 0])
    assert (out[0, 1:] == 4).all()


def test_serial_k5_equals_parallel_5_9_13():
    torch.manual_seed(2)
    sppf = SPPFBottleneck(8, 8, kernel_sizes=5)
    _randomize_bn(sppf)
    spp = SPPFBottleneck(8, 8, kernel_sizes=(5, 9, 13))
    # Same parameter layout (poolings hold no parameters).
    spp.load_state_dict(sppf.state_dict())
    sppf.eval()
    spp.eval()
    x = torch.randn(2, 8, 17, 15)
    torch.testing.assert_close(sppf(x), spp(x))


@pytest.mark.parametrize('kernel_sizes', [4, 0, (5, 6), ()])
def test_bad_kernel_sizes_raise(kernel_sizes):
    with pytest.raises(ValueError, match='kernel_sizes'):
        SPPFBottleneck(8, 8, kernel_sizes=kernel_sizes)


def test_zero_mid_channels_raises():
    with pytest.raises(ValueError, match='mid_channels_scale'):
        SPPFBottleneck(1, 8)
