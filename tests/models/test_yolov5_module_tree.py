"""YOLOv5 backbone + neck reproduce MMYOLO 0.6.0's module tree and keys.

Reference: ``spec/module_trees/yolov5/<config>.txt`` (shipped with the tests
as ``tests/data/module_trees.json.gz``, the ``module_trees`` fixture) lists,
for each config, the modules (dotted name, class) and state_dict entries
(key, shape; buffers included) of the model MMYOLO 0.6.0 builds, in order.
Matching them under ``backbone.`` and ``neck.`` means MMYOLO checkpoints
load unchanged. The
deepen/widen factors per size are those of the configs (spec 02 §1.2):
n 0.33/0.25, s 0.33/0.5, m 0.67/0.75, l 1.0/1.0, x 1.33/1.25.
"""
from typing import Dict, List, Tuple

import pytest
import torch.nn as nn

from yolokit.models.backbones import YOLOv5CSPDarknet
from yolokit.models.necks import YOLOv5PAFPN
from yolokit.testing.module_tree import ModuleTree

FACTORS = {
    'n': (0.33, 0.25),
    's': (0.33, 0.5),
    'm': (0.67, 0.75),
    'l': (1.0, 1.0),
    'x': (1.33, 1.25),
}

CONFIGS = [
    ('s', 'P5', 'yolov5_s-v61_syncbn_fast_8xb16-300e_coco'),
    ('s', 'P6', 'yolov5_s-p6-v62_syncbn_fast_8xb16-300e_coco'),
    ('n', 'P6', 'yolov5_n-p6-v62_syncbn_fast_8xb16-300e_coco'),
    ('n', 'P5', 'yolov5_n-v61_syncbn_fast_8xb16-300e_coco'),
    ('m', 'P5', 'yolov5_m-v61_syncbn_fast_8xb16-300e_coco'),
    ('l', 'P6', 'yolov5_l-p6-v62_syncbn_fast_8xb16-300e_coco'),
]
PARTS = ('backbone', 'neck')


def _part_entries(tree: ModuleTree) -> Tuple[List[tuple], List[tuple]]:
    """The ``backbone``/``neck`` entries of a detector tree, in order."""
    modules, params = tree

    def in_parts(name: str) -> bool:
        return name.split('.', 1)[0] in PARTS

    return ([(k, v) for k, v in modules.items() if in_parts(k)],
            [(k, v) for k, v in params.items() if in_parts(k)])


def _layout(parts: Dict[str, nn.Module]) -> Tuple[List[tuple], List[tuple]]:
    """Entries of the standalone parts, named as inside the detector."""
    modules, params = [], []
    for prefix, model in parts.items():
        for name, m in model.named_modules():
            full = f'{prefix}.{name}' if name else prefix
            modules.append((full, type(m).__name__))
        for key, tensor in model.state_dict().items():
            params.append((f'{prefix}.{key}', tuple(tensor.shape)))
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


@pytest.mark.parametrize('size, arch, name', CONFIGS)
def test_backbone_and_neck_layout(module_trees, size, arch, name):
    exp_modules, exp_params = _part_entries(module_trees['yolov5/' + name])
    # a P5 backbone+neck has ~200 modules and ~300 state_dict entries
    assert len(exp_modules) > 100 and len(exp_params) > 100, name

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
