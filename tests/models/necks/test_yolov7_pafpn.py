"""YOLOv7PAFPN shapes, and deploy re-parameterisation of its RepVGG outs."""
import torch

from yolokit.models.layers import RepVGGBlock
from yolokit.models.necks import YOLOv7PAFPN
from yolokit.utils.switch_to_deploy import switch_to_deploy


def _randomise_bn(model: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(
                torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=gen))
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen))


def test_shapes_p5():
    # YOLOv7-l widths at widen 1/8: inputs 64/128/128, neck 16/32/64, outs
    # widened x2 by the RepVGG blocks
    neck = YOLOv7PAFPN([512, 1024, 1024], [128, 256, 512],
                       widen_factor=0.125).eval()
    feats = [torch.rand(1, c, s, s) for c, s in ((64, 8), (128, 4), (128, 2))]
    outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 8), (1, 64, 4, 4),
                                              (1, 128, 2, 2)]


def test_switch_to_deploy_fuses_rep_outs():
    neck = YOLOv7PAFPN([512, 1024, 1024], [128, 256, 512],
                       widen_factor=0.125).eval()
    torch.manual_seed(0)
    _randomise_bn(neck)
    feats = [torch.rand(2, c, s, s) for c, s in ((64, 8), (128, 4), (128, 2))]
    with torch.no_grad():
        before = neck(feats)
        reps = [m for m in neck.modules() if isinstance(m, RepVGGBlock)]
        assert len(reps) == 3  # one per output level
        switch_to_deploy(neck)
        after = neck(feats)
    for rep in reps:
        assert rep.deploy and hasattr(rep, 'rbr_reparam')
        assert not hasattr(rep, 'rbr_dense')
    # Fusing every RepVGG block and folding every BN reorders float32 sums
    # through the whole neck: differences up to ~2e-4 were seen on outputs
    # of magnitude ~1 over random inputs; a wrong fusion is off by O(1).
    for b, a in zip(before, after):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)
