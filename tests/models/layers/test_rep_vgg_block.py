"""RepVGGBlock: the training form, its fusion, and MMYOLO 0.6.0 parity."""
import pytest
import torch
import torch.nn.functional as F

from yolokit.models.layers import RepVGGBlock
from yolokit.models.layers.rep_vgg_block import identity_kernel
from yolokit.utils.switch_to_deploy import switch_to_deploy


def _randomise_bn(module, seed=0):
    """Non-trivial BN statistics and affine terms, so fusion is exercised."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)


def test_identity_kernel_by_hand():
    # 4 channels in 2 groups: each group sees 2 input channels, so output
    # channel c copies its group-local input c % 2 at the centre tap.
    kernel = identity_kernel(4, 2, torch.zeros(1))
    assert kernel.shape == (4, 2, 3, 3)
    centre = kernel[:, :, 1, 1]
    assert torch.equal(centre,
                       torch.tensor([[1., 0.], [0., 1.], [1., 0.], [0., 1.]]))
    assert kernel.sum() == 4  # nothing outside the centre taps
    x = torch.randn(1, 4, 5, 5)
    assert torch.allclose(F.conv2d(x, kernel, padding=1, groups=2), x)


def test_training_form_is_sum_of_branches_by_hand():
    block = RepVGGBlock(3, 3, use_alpha=True).eval()
    _randomise_bn(block)
    block.alpha.data.fill_(0.25)
    x = torch.randn(2, 3, 6, 6)
    dense = block.rbr_dense.bn(block.rbr_dense.conv(x))
    one = block.rbr_1x1.bn(block.rbr_1x1.conv(x))
    identity = block.rbr_identity(x)
    expected = torch.relu(dense + 0.25 * one + identity)
    assert torch.allclose(block(x), expected, atol=1e-6)


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(in_channels=8, out_channels=8),  # identity branch
        dict(in_channels=8, out_channels=8, groups=4),
        dict(in_channels=4, out_channels=8, stride=2),  # no identity
        dict(in_channels=8, out_channels=8, use_alpha=True,
             use_bn_first=False, act_cfg=dict(type='SiLU')),  # PP-YOLOE+
    ],
    ids=['identity', 'grouped', 'stride2', 'alpha'])
def test_switch_to_deploy_keeps_outputs(kwargs):
    block = RepVGGBlock(**kwargs).eval()
    _randomise_bn(block)
    if block.alpha is not None:
        block.alpha.data.fill_(0.7)
    x = torch.randn(2, kwargs['in_channels'], 9, 9)
    before = block(x)
    block.switch_to_deploy()
    assert block.deploy
    names = {name for name, _ in block.named_children()}
    assert 'rbr_reparam' in names
    assert not names & {'rbr_dense', 'rbr_1x1', 'rbr_identity'}
    assert torch.allclose(block(x), before, atol=1e-5)
    block.switch_to_deploy()  # a fused block stays as it is
    assert torch.allclose(block(x), before, atol=1e-5)


def test_model_switch_fuses_nested_blocks():
    model = torch.nn.Sequential(RepVGGBlock(4, 4), RepVGGBlock(4, 8,
                                                               stride=2))
    model.eval()
    _randomise_bn(model)
    x = torch.randn(1, 4, 8, 8)
    before = model(x)
    switch_to_deploy(model)
    assert all(m.deploy for m in model)
    assert torch.allclose(model(x), before, atol=1e-5)


def test_identity_branch_only_when_shape_is_kept():
    assert RepVGGBlock(4, 4).rbr_identity is not None
    assert RepVGGBlock(4, 8).rbr_identity is None
    assert RepVGGBlock(4, 4, stride=2).rbr_identity is None
    assert RepVGGBlock(4, 4, use_bn_first=False).rbr_identity is None


@pytest.mark.parametrize('bad', [
    dict(kernel_size=5), dict(padding=0), dict(dilation=2)])
def test_unsupported_geometry_is_named(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f'{name}='):
        RepVGGBlock(4, 4, **bad)


@pytest.mark.parametrize('kwargs', [
    dict(in_channels=8, out_channels=8),
    dict(in_channels=8, out_channels=16, stride=2),
    dict(in_channels=8, out_channels=8, use_alpha=True, use_bn_first=False),
])
def test_same_state_dict_and_outputs_as_mmyolo(mmyolo_reference, kwargs):
    """Same keys/shapes as MMYOLO 0.6.0 in both forms, same outputs."""
    ref = mmyolo_reference.build_model(dict(type='RepVGGBlock', **kwargs))
    ours = RepVGGBlock(**kwargs)
    _randomise_bn(ref)
    if ref.alpha is not None:
        ref.alpha.data.fill_(1.3)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    ours.load_state_dict(ref.state_dict())
    ours.eval(), ref.eval()
    x = torch.randn(2, kwargs['in_channels'], 7, 7)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)

    ref.switch_to_deploy()
    ours.switch_to_deploy()
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    # A fused MMYOLO checkpoint loads into a block built with deploy=True.
    fused = RepVGGBlock(**kwargs, deploy=True).eval()
    fused.load_state_dict(ref.state_dict())
    assert torch.allclose(fused(x), ref(x), atol=1e-5)
    assert torch.allclose(ours(x), ref(x), atol=1e-5)
