"""SPPFBottleneck: shapes, channel arithmetic, and a naive recomputation.

References: spec 07 §2.15 (shapes, ``mid = int(in * scale)``, conv2 input
``4 * mid`` for an int kernel and ``mid * (len + 1)`` for a sequence) and
the known SPPF/SPP equivalence: max-pooling with k=5 (stride 1, 'same'
padding) applied twice equals one k=9 pooling, three times a k=13 pooling.
"""
import pytest
import torch
import torch.nn as nn

from yolokit.models.layers import SPPFBottleneck


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


def test_matches_naive_serial_pooling():
    torch.manual_seed(0)
    model = SPPFBottleneck(8, 6, kernel_sizes=5)
    _randomize_bn(model)
    model.eval()
    x = torch.randn(2, 8, 12, 10)

    pool = nn.MaxPool2d(kernel_size=5, stride=1, padding=2)
    mid = model.conv1(x)
    p1 = pool(mid)
    p2 = pool(p1)
    p3 = pool(p2)
    expected = model.conv2(torch.cat([mid, p1, p2, p3], dim=1))

    torch.testing.assert_close(model(x), expected)


def test_matches_naive_parallel_pooling_without_conv1():
    torch.manual_seed(1)
    model = SPPFBottleneck(
        4, 6, kernel_sizes=(3, 7), use_conv_first=False).eval()
    _randomize_bn(model)
    x = torch.randn(1, 4, 9, 9)
    pools = [nn.MaxPool2d(k, 1, k // 2) for k in (3, 7)]
    expected = model.conv2(torch.cat([x] + [p(x) for p in pools], dim=1))
    torch.testing.assert_close(model(x), expected)


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
