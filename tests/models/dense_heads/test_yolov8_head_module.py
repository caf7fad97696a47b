"""YOLOv8HeadModule (spec 06 section 3.6): channel rules, outputs, DFL
expectation and bias initialization."""
import math

import pytest
import torch

from yolokit.models.dense_heads import YOLOv8HeadModule
from yolokit.registry import MODELS


def _feats(channels, sizes, batch=2):
    return [torch.rand(batch, c, h, w) for c, (h, w) in zip(channels, sizes)]


def test_channel_rules_and_names():
    module = MODELS.build(
        dict(
            type='YOLOv8HeadModule',
            num_classes=80,
            in_channels=[256, 512, 1024],
            widen_factor=0.25))
    assert module.in_channels == [64, 128, 256]
    # reg: max(16, 64 // 4, 16 * 4) = 64; cls: max(64, 80) = 80
    for i, c in enumerate(module.in_channels):
        reg, cls = module.reg_preds[i], module.cls_preds[i]
        assert reg[0].conv.in_channels == c
        assert reg[0].conv.out_channels == 64
        assert reg[1].conv.kernel_size == (3, 3)
        assert reg[2].out_channels == 4 * 16
        assert reg[2].kernel_size == (1, 1)
        assert cls[0].conv.out_channels == 80
        assert cls[2].out_channels == 80
    # proj is rebuilt from reg_max, not stored in checkpoints
    assert 'proj' not in module.state_dict()
    assert module.proj.tolist() == list(range(16))
    wide = YOLOv8HeadModule(num_classes=3, in_channels=[512, 512, 512])
    assert wide.reg_preds[0][0].conv.out_channels == 128  # 512 // 4
    assert wide.cls_preds[0][0].conv.out_channels == 512


def test_train_and_eval_outputs():
    module = YOLOv8HeadModule(
        num_classes=3, in_channels=[8, 16, 32], reg_max=16)
    sizes = [(8, 12), (4, 6), (2, 3)]
    feats = _feats([8, 16, 32], sizes)
    module.train()
    cls, bbox, dist = module(feats)
    assert len(cls) == len(bbox) == len(dist) == 3
    for (h, w), c, b, d in zip(sizes, cls, bbox, dist):
        assert c.shape == (2, 3, h, w)
        assert b.shape == (2, 4, h, w)
        assert d.shape == (2, h * w, 4, 16)
    module.eval()
    with torch.no_grad():
        outs = module(feats)
    assert len(outs) == 2


def test_distance_is_the_expectation_of_the_bins():
    torch.manual_seed(0)
    module = YOLOv8HeadModule(num_classes=2, in_channels=[8, 8, 8]).eval()
    feats = _feats([8, 8, 8], [(3, 4), (2, 2), (1, 1)], batch=1)
    with torch.no_grad():
        _, bbox = module(feats)
        raw = module.reg_preds[0](feats[0])  # (1, 64, 3, 4)
    # channel k * 16 + j is bin j of side k (left, top, right, bottom)
    probs = raw.view(1, 4, 16, 3, 4).softmax(dim=2)
    expected = (probs * torch.arange(16.).view(1, 1, 16, 1, 1)).sum(2)
    torch.testing.assert_close(bbox[0], expected, rtol=1e-5, atol=1e-5)


def test_single_bin_predicts_distances_directly():
    module = YOLOv8HeadModule(
        num_classes=2, in_channels=[8, 8, 8], reg_max=1).train()
    feats = _feats([8, 8, 8], [(2, 2), (1, 1), (1, 1)])
    _, bbox, dist = module(feats)
    assert bbox[0].shape == (2, 4, 2, 2)
    assert dist[0].shape == (2, 4, 4, 1)
    torch.testing.assert_close(dist[0][..., 0],
                               bbox[0].flatten(2).transpose(1, 2))


def test_init_weights_biases():
    module = YOLOv8HeadModule(num_classes=80, in_channels=[8, 16, 32])
    module.init_weights()
    for stride, reg, cls in zip((8, 16, 32), module.reg_preds,
                                module.cls_preds):
        assert torch.all(reg[2].bias == 1.0)
        # about 5 objects per 640 x 640 image over 80 classes
        expected = math.log(5 / 80 / (640 / stride)**2)
        torch.testing.assert_close(cls[2].bias, torch.full((80, ), expected))
    module.init_weights()  # absolute values: calling again changes nothing
    assert torch.all(module.reg_preds[0][2].bias == 1.0)


def test_errors():
    with pytest.raises(ValueError, match='in_channels'):
        YOLOv8HeadModule(num_classes=2, in_channels=[8, 16])
    with pytest.raises(ValueError, match='reg_max'):
        YOLOv8HeadModule(num_classes=2, in_channels=8, reg_max=0)
    module = YOLOv8HeadModule(num_classes=2, in_channels=8)
    with pytest.raises(ValueError, match='3 feature maps'):
        module([torch.rand(1, 8, 2, 2)])
