"""PPYOLOESELayer: y = SiLU(BN(conv(feat * sigmoid(fc(avg_feat)))))."""
import torch
import torch.nn.functional as F

from yolokit.models.layers import PPYOLOESELayer


def test_forward_by_hand():
    layer = PPYOLOESELayer(2).eval()  # BN: running mean 0, var 1, eps 1e-5
    with torch.no_grad():
        layer.fc.weight.zero_()
        layer.fc.bias.copy_(torch.tensor([0., 100.]))  # gates 0.5 and ~1
        layer.conv.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
    feat = torch.randn(1, 2, 3, 3)
    avg = feat.mean((2, 3), keepdim=True)
    gated = feat * torch.tensor([0.5, 1.]).view(1, 2, 1, 1)
    expected = F.silu(gated / (1 + 1e-5) ** 0.5)
    torch.testing.assert_close(layer(feat, avg), expected)


def test_gate_conv_starts_small():
    # MMYOLO initialises fc with N(0, 0.001) so gates start near 0.5
    layer = PPYOLOESELayer(64)
    assert layer.fc.weight.std().item() < 0.01
