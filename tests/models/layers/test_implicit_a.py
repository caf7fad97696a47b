"""ImplicitA adds its (1, C, 1, 1) offset; the check is by hand."""
import torch

from yolokit.models.layers import ImplicitA


def test_adds_per_channel_offset():
    layer = ImplicitA(2)
    assert layer.implicit.shape == (1, 2, 1, 1)
    layer.implicit.data = torch.tensor([1., -2.]).view(1, 2, 1, 1)
    x = torch.zeros(1, 2, 2, 2)
    expected = torch.tensor([1., -2.]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    assert torch.equal(layer(x), expected)


def test_init_is_normal_around_mean():
    torch.manual_seed(0)
    values = ImplicitA(4096, mean=0.5, std=0.02).implicit
    assert abs(values.mean().item() - 0.5) < 0.002
    assert abs(values.std().item() - 0.02) < 0.002
