"""YOLOv5 backbone + neck reproduce MMYOLO 0.6.0's module tree and keys.

Reference: ``spec/module_trees/yolov5/<config>.txt`` lists, for each config,
``module <dotted.name> <ClassName>`` and ``param <state_dict key> <shape>``
(buffers included) of the model MMYOLO 0.6.0 builds. Matching them under
``backbone.`` and ``neck.`` means MMYOLO checkpoints load unchanged. The
deepen/widen factors per size are those of the configs (spec 02 §1.2):
n 0.33/0.25, s 0.33/0.5, m 0.67/0.75, l 1.0/1.0, x 1.33/1.25.
"""
import os.path as osp
from typing import Dict, List, Tuple

import pytest
import torch.nn as nn

from yolokit.models.backbones import YOLOv5CSPDarknet
from yolokit.models.necks import YOLOv5PAFPN

FACTORS = {
    'n': (0.33, 0.25),
    's': (0.33, 0.5),
    'm': (0.67, 0.75),
    'l': (1.0, 1.0),
    'x': (1.33, 1.25),
}

CONFIGS = [
    ('s', 'P5', 'yolov5_s-v61_syncbn_fast_8xb16-300e_coco.txt'),
    ('s', 'P6', 'yolov5_s-p6-v62_syncbn_fast_8xb16-300e_coco.txt'),
    ('n', 'P6', 'yolov5_n-p6-v62_syncbn_fast_8xb16-300e_coco.txt'),
    ('n', 'P5', 'yolov5_n-v61_syncbn_fast_8xb16-300e_coco.txt'),
    ('m', 'P5', 'yolov5_m-v61_syncbn_fast_8xb16-300e_coco.txt'),
    ('l', 'P6', 'yolov5_l-p6-v62_syncbn_fast_8xb16-300e_coco.txt'),
]


def _parse(
    path: str, prefixes: Tuple[str, ...]
) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    modules, params = [], []
    with open(path, encoding='utf-8') as f:
        for line in f:
            kind, _, rest = line.rstrip('\n').partition(' ')
            if kind not in ('module', 'param'):
                continue
            name, _, value = rest.partition(' ')
            if not (name in prefixes
                    or name.startswith(tuple(p + '.' for p in prefixes))):
                continue
            (modules if kind == 'module' else params).append((name, value))
    return modules, params


def _layout(
    parts: Dict[str, nn.Module]
) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    modules, params = [], []
    for prefix, model in parts.items():
        for name, m in model.named_modules():
            full = f'{prefix}.{name}' if name else prefix
            modules.append((full, type(m).__name__))
        for key, tensor in model.state_dict().items():
            params.append((f'{prefix}.{key}', str(tuple(tensor.shape))))
    return modules, params


def _build(size: str, arch: str) -> Dict[str, nn.Module]:
    deepen, widen = FACTORS[size]
    channels = [256, 512, 1024] if arch == 'P5' else [256, 512, 768, 1024]
    backbone = YOLOv5CSPDarknet(
        arch=arch,
        deepen_factor=deepen,
        widen_factor=widen,
        out_indices=tuple(range(2, 2 + len(channels))))
    neck = YOLOv5PAFPN(
        in_channels=channels,
        out_channels=channels,
        deepen_factor=deepen,
        widen_factor=widen,
        num_csp_blocks=3)
    return {'backbone': backbone, 'neck': neck}


@pytest.mark.parametrize('size, arch, fname', CONFIGS)
def test_backbone_and_neck_layout(module_trees_dir, size, arch, fname):
    path = osp.join(module_trees_dir, 'yolov5', fname)
    if not osp.isfile(path):
        pytest.skip(f'{path} is not available')
    exp_modules, exp_params = _parse(path, ('backbone', 'neck'))
    assert exp_modules and exp_params, f'nothing parsed from {path}'

    got_modules, got_params = _layout(_build(size, arch))

    # compare as ordered lists, reporting the first differences readably
    missing = [m for m in exp_modules if m not in set(got_modules)]
    extra = [m for m in got_modules if m not in set(exp_modules)]
    assert not missing and not extra, (
        f'modules missing: {missing[:5]}, unexpected: {extra[:5]}')
    assert got_modules == exp_modules

    missing = [p for p in exp_params if p not in set(got_params)]
    extra = [p for p in got_params if p not in set(exp_params)]
    assert not missing and not extra, (
        f'params missing: {missing[:5]}, unexpected: {extra[:5]}')
    assert got_params == exp_params
