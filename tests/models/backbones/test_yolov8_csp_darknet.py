"""YOLOv8CSPDarknet: shapes of the spec's docstring example (06 section
1.9), arch table, scaling rules and freezing."""
import pytest
import torch
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.models import YOLOv8CSPDarknet
from yolokit.models.layers import CSPLayerWithTwoConv, SPPFBottleneck
from yolokit.registry import MODELS


def test_default_outputs_on_416():
    model = YOLOv8CSPDarknet().eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 416, 416))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 52, 52),
                                              (1, 512, 26, 26),
                                              (1, 1024, 13, 13)]


def test_structure():
    model = YOLOv8CSPDarknet()
    assert model.layers == ['stem', 'stage1', 'stage2', 'stage3', 'stage4']
    stem = model.stem
    assert isinstance(stem, ConvModule)
    assert stem.conv.kernel_size == (3, 3) and stem.conv.stride == (2, 2)
    assert stem.conv.out_channels == 64
    # C2f blocks 3-6-6-3, SPPF only in the last stage
    assert [len(getattr(model, f'stage{i}')[1].blocks)
            for i in range(1, 5)] == [3, 6, 6, 3]
    for i in range(1, 5):
        stage = getattr(model, f'stage{i}')
        assert stage[0].conv.stride == (2, 2)
        assert isinstance(stage[1], CSPLayerWithTwoConv)
        assert all(b.add_identity for b in stage[1].blocks)
        assert len(stage) == (3 if i == 4 else 2)
    assert isinstance(model.stage4[2], SPPFBottleneck)
    assert model.stem.bn.momentum == 0.03 and model.stem.bn.eps == 0.001


@pytest.mark.parametrize(
    'deepen,widen,last,channels,blocks',
    [
        # n: make_divisible(c, 0.25), make_round(n, 0.33)
        (0.33, 0.25, 1024, [16, 32, 64, 128, 256], [1, 2, 2, 1]),
        # m: last stage 768 * 0.75 = 576
        (0.67, 0.75, 768, [48, 96, 192, 384, 576], [2, 4, 4, 2]),
        # x: last stage 512 * 1.25 = 640
        (1.0, 1.25, 512, [80, 160, 320, 640, 640], [3, 6, 6, 3]),
    ])
def test_size_variants(deepen, widen, last, channels, blocks):
    model = MODELS.build(
        dict(
            type='YOLOv8CSPDarknet',
            last_stage_out_channels=last,
            deepen_factor=deepen,
            widen_factor=widen))
    assert model.stem.conv.out_channels == channels[0]
    for i in range(1, 5):
        stage = getattr(model, f'stage{i}')
        assert stage[0].conv.out_channels == channels[i]
        assert len(stage[1].blocks) == blocks[i - 1]
    with torch.no_grad():
        outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == channels[2:]


def test_last_stage_channels_do_not_leak_between_instances():
    small = YOLOv8CSPDarknet(
        last_stage_out_channels=512, widen_factor=0.25, deepen_factor=0.33)
    assert small.stage4[0].conv.out_channels == 128
    assert YOLOv8CSPDarknet.arch_settings['P5'][-1][1] is None
    default = YOLOv8CSPDarknet(widen_factor=0.25, deepen_factor=0.33)
    assert default.stage4[0].conv.out_channels == 256


def test_out_indices_and_arch_errors():
    model = YOLOv8CSPDarknet(widen_factor=0.25, out_indices=(0, 1, 4)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(16, 32, 32), (32, 16, 16),
                                                  (256, 2, 2)]
    with pytest.raises(ValueError, match='arch'):
        YOLOv8CSPDarknet(arch='P6')


def test_frozen_stages_and_norm_eval():
    model = YOLOv8CSPDarknet(
        widen_factor=0.25, deepen_factor=0.33, frozen_stages=1, norm_eval=True)
    model.train()
    for name in ('stem', 'stage1'):
        module = getattr(model, name)
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert all(p.requires_grad for p in model.stage2.parameters())
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


def test_init_weights_resets_convs():
    torch.manual_seed(0)
    model = YOLOv8CSPDarknet(widen_factor=0.25, deepen_factor=0.33)
    with torch.no_grad():
        model.stem.conv.weight.fill_(0.)
    model.init_weights()
    assert model.stem.conv.weight.abs().sum() > 0
