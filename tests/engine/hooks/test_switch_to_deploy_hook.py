"""SwitchToDeployHook and yolokit.utils.switch_to_deploy."""
from types import SimpleNamespace

import pytest

import torch
import torch.nn as nn

from yolokit.engine.hooks import SwitchToDeployHook
from yolokit.registry import HOOKS
from yolokit.utils.switch_to_deploy import switch_to_deploy


class _TwoBranch(nn.Module):
    """A minimal re-parameterizable block: conv3x3 + conv1x1 -> one conv."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Conv2d(2, 2, 3, padding=1)
        self.one = nn.Conv2d(2, 2, 1)
        self.deployed = False

    def forward(self, x):
        if self.deployed:
            return self.fused(x)
        return self.dense(x) + self.one(x)

    def switch_to_deploy(self):
        if self.deployed:
            return
        fused = nn.Conv2d(2, 2, 3, padding=1)
        with torch.no_grad():
            kernel = self.dense.weight.clone()
            # A 1x1 kernel is the centre of a zero-padded 3x3 kernel.
            kernel[:, :, 1:2, 1:2] += self.one.weight
            fused.weight.copy_(kernel)
            fused.bias.copy_(self.dense.bias + self.one.bias)
        # Submodules are replaced, as RepVGGBlock does.
        del self.dense
        del self.one
        self.fused = fused
        self.deployed = True


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 2, 1)
        self.blocks = nn.Sequential(_TwoBranch(), nn.ReLU(), _TwoBranch())
        # An attribute with that name that is not a method is ignored.
        self.head = nn.Identity()
        self.head.switch_to_deploy = True

    def forward(self, x):
        return self.blocks(self.stem(x))


def test_switch_to_deploy_switches_every_block_and_keeps_outputs():
    torch.manual_seed(0)
    model = _Net().eval()
    x = torch.rand(1, 2, 6, 6)
    expected = model(x)
    assert switch_to_deploy(model) is model
    blocks = [model.blocks[0], model.blocks[2]]
    assert all(b.deployed for b in blocks)
    assert not any(hasattr(b, 'dense') for b in blocks)
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
    # Idempotent.
    switch_to_deploy(model)
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_hook_switches_the_runner_model_before_testing():
    hook = HOOKS.build(dict(type='SwitchToDeployHook'))
    assert isinstance(hook, SwitchToDeployHook)
    model = _Net()
    runner = SimpleNamespace(model=model, hooks=[hook])
    hook.before_test_epoch(runner)
    assert model.blocks[0].deployed and model.blocks[2].deployed


def test_hook_keeps_the_ema_swap_working():
    """EMAHook swaps the averaged weights in before the test and back after
    it; with BatchNorm folded in the model only, swapping back failed."""
    from mmcv.cnn import ConvModule
    from mmengine.hooks import EMAHook

    torch.manual_seed(0)
    model = nn.Sequential(
        ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type='BN')),
        ConvModule(4, 2, 1, norm_cfg=dict(type='BN')))
    with torch.no_grad():  # non-trivial statistics for the folding
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.fill_(2.0)
    ema_hook = EMAHook(ema_type='ExpMomentumEMA')
    runner = SimpleNamespace(model=model, hooks=[])
    ema_hook.before_run(runner)
    # make the averaged weights differ from the model's (the EMA hook swaps
    # parameters only; the BatchNorm statistics stay the model's)
    with torch.no_grad():
        for p in ema_hook.ema_model.module.parameters():
            p.add_(0.1)
    for m in (model, ema_hook.ema_model.module):
        m.eval()
    deploy_hook = SwitchToDeployHook()
    runner.hooks = [ema_hook, deploy_hook]
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        averaged_out = ema_hook.ema_model.module(x)
        raw_out = model(x)

    ema_hook.before_test_epoch(runner)
    deploy_hook.before_test_epoch(runner)
    assert not any(
        isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():  # tests the averaged weights, deployed
        torch.testing.assert_close(model(x), averaged_out, rtol=1e-5,
                                   atol=1e-5)
    ema_hook.after_test_epoch(runner)  # raised a size mismatch before
    with torch.no_grad():
        torch.testing.assert_close(model(x), raw_out, rtol=1e-5, atol=1e-5)


def test_model_without_reparameterizable_blocks_is_unchanged():
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    switch_to_deploy(model, fuse_bn=False)
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key])


@pytest.mark.parametrize('config, all_folded', [
    ('yolov5/yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py', True),
    ('yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py', True),
    # RTMDet's head shares its convs across levels: those BNs must stay
    ('rtmdet/rtmdet_tiny_syncbn_fast_8xb32-300e_coco.py', False),
])
def test_switch_to_deploy_folds_batchnorm_of_a_real_detector(
        config, all_folded):
    """Folding BN into the convs leaves a detector's outputs unchanged
    (within float error)."""
    from yolokit.registry import MODELS
    from yolokit.testing import get_detector_cfg
    torch.manual_seed(0)
    cfg = get_detector_cfg(config)
    model = MODELS.build(cfg)
    # non-trivial running statistics, so an unfused BN would show
    model.train()
    with torch.no_grad():
        model(torch.rand(2, 3, 64, 64), mode='tensor')
    model.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x, mode='tensor')
        switch_to_deploy(model)
        got = model(x, mode='tensor')
    has_bn = any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert has_bn != all_folded
    for exp_level, got_level in zip(expected, got):
        for e, g in zip(exp_level, got_level):
            torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


def test_switch_to_deploy_can_keep_batchnorm():
    model = nn.Sequential(nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2)).eval()
    switch_to_deploy(model, fuse_bn=False)
    assert isinstance(model[1], nn.BatchNorm2d)


def test_fold_batchnorm_leaves_shared_convs_alone():
    """A conv shared by two ConvModules with separate BNs (RTMDet's shared
    head) cannot absorb both BNs; folding must keep the outputs."""
    from mmcv.cnn import ConvModule

    from yolokit.utils.switch_to_deploy import fold_batchnorm
    torch.manual_seed(0)
    a = ConvModule(2, 2, 3, padding=1, norm_cfg=dict(type='BN'))
    b = ConvModule(2, 2, 3, padding=1, norm_cfg=dict(type='BN'))
    b.conv = a.conv
    for bn in (a.bn, b.bn):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    model = nn.ModuleList([a, b]).eval()
    x = torch.rand(1, 2, 5, 5)
    expected = [m(x) for m in model]
    assert fold_batchnorm(model) == 0
    torch.testing.assert_close([m(x) for m in model], expected)
