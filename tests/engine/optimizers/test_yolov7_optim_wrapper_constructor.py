"""Which parameters YOLOv7OptimWrapperConstructor decays, checked on a
hand-built model whose groups can be listed by eye (MMYOLO 0.6.0's rule:
only non-norm weights decay; norm weights and ImplicitA/M tensors, and all
biases, do not)."""
import torch.nn as nn

from yolokit.engine.optimizers import YOLOv7OptimWrapperConstructor
from yolokit.models.layers import ImplicitA, ImplicitM


def test_param_groups_by_hand():
    conv = nn.Conv2d(3, 4, 3)  # weight decays, bias does not
    bn = nn.BatchNorm2d(4)  # weight and bias: no decay
    imp_a, imp_m = ImplicitA(4), ImplicitM(4)  # implicit: no decay
    linear = nn.Linear(4, 2, bias=False)  # weight decays
    model = nn.Sequential(conv, bn, imp_a, linear, imp_m)
    constructor = YOLOv7OptimWrapperConstructor(
        dict(
            type='OptimWrapper',
            optimizer=dict(
                type='SGD',
                lr=0.01,
                momentum=0.9,
                weight_decay=0.0005,
                batch_size_per_gpu=16)))
    groups = constructor(model).optimizer.param_groups
    ids = [[id(p) for p in g['params']] for g in groups]
    assert ids[0] == [id(conv.weight), id(linear.weight)]
    assert ids[1] == [id(bn.weight), id(imp_a.implicit), id(imp_m.implicit)]
    assert ids[2] == [id(conv.bias), id(bn.bias)]
    # one process x 16 images: accumulate 4, 16 * 4 / 64 = 1, decay unscaled
    assert groups[0]['weight_decay'] == 0.0005
    assert groups[1]['weight_decay'] == 0 and groups[2]['weight_decay'] == 0


def test_weight_decay_scales_with_batch():
    # 128 images on one process: accumulate max(round(0.5), 1) = 1,
    # scale 128 / 64 = 2
    constructor = YOLOv7OptimWrapperConstructor(
        dict(
            type='OptimWrapper',
            optimizer=dict(
                type='SGD',
                lr=0.01,
                weight_decay=0.0005,
                batch_size_per_gpu=128)))
    groups = constructor(nn.Conv2d(1, 1, 1)).optimizer.param_groups
    assert groups[0]['weight_decay'] == 0.001
