"""graph_keeping_zero and scale_by_images_and_world."""
import torch

import yolokit.models.utils.loss_terms as loss_terms
from yolokit.models.utils import graph_keeping_zero, scale_by_images_and_world


def test_zero_keeps_every_output_in_the_graph():
    a = torch.randn(3, requires_grad=True)
    b = torch.randn(2, 2, requires_grad=True)
    zero = graph_keeping_zero(a, b)
    assert zero.item() == 0
    zero.backward()
    # a zero gradient, but a gradient: DDP sees every parameter used
    assert a.grad is not None and torch.all(a.grad == 0)
    assert b.grad is not None and torch.all(b.grad == 0)


def test_scale_by_images_and_world(monkeypatch):
    terms = dict(loss_a=torch.tensor(0.5), loss_b=torch.tensor(2.))
    assert {k: v.item()
            for k, v in scale_by_images_and_world(terms, 3).items()} == {
                'loss_a': 1.5, 'loss_b': 6.
            }
    monkeypatch.setattr(loss_terms, 'get_world_size', lambda: 4)
    scaled = scale_by_images_and_world(terms, 3)
    assert scaled['loss_a'].item() == 0.5 * 3 * 4
    assert terms['loss_a'].item() == 0.5  # the input is not changed
