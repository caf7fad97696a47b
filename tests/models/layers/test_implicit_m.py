"""ImplicitM scales each channel by its factor; the check is by hand."""
import torch

from yolokit.models.layers import ImplicitM


def test_scales_per_channel():
    layer = ImplicitM(2)
    assert layer.implicit.shape == (1, 2, 1, 1)
    layer.implicit.data = torch.tensor([3., -1.]).view(1, 2, 1, 1)
    x = torch.full((1, 2, 1, 2), 2.)
    assert torch.equal(layer(x), torch.tensor([[[[6., 6.]], [[-2., -2.]]]]))


def test_init_is_normal_around_one():
    torch.manual_seed(0)
    values = ImplicitM(4096).implicit
    assert abs(values.mean().item() - 1.0) < 0.002
    assert abs(values.std().item() - 0.02) < 0.002
