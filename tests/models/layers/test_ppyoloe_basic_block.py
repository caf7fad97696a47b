"""PPYOLOEBasicBlock: conv1 (3x3) then a RepVGG block, optional residual."""
import pytest
import torch

from yolokit.models.layers import PPYOLOEBasicBlock


def test_shortcut_adds_input():
    torch.manual_seed(0)
    plain = PPYOLOEBasicBlock(8, 8, shortcut=False, use_alpha=True).eval()
    res = PPYOLOEBasicBlock(8, 8, shortcut=True, use_alpha=True).eval()
    res.load_state_dict(plain.state_dict())
    x = torch.randn(1, 8, 6, 6)
    torch.testing.assert_close(res(x), plain(x) + x)


def test_rep_vgg_without_identity_branch():
    block = PPYOLOEBasicBlock(8, 8, use_alpha=True)
    keys = set(block.state_dict())
    assert 'conv2.alpha' in keys
    # use_bn_first=False: no BatchNorm identity branch in the RepVGG block
    assert not any(k.startswith('conv2.rbr_identity') for k in keys)
    assert {'conv1.conv.weight', 'conv2.rbr_dense.conv.weight'} <= keys


def test_shortcut_needs_equal_channels():
    with pytest.raises(ValueError, match='in_channels == out_channels'):
        PPYOLOEBasicBlock(4, 8, shortcut=True)
