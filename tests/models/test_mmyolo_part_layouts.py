"""Model parts of families whose detector is not assembled yet reproduce
MMYOLO 0.6.0's layout and outputs.

PP-YOLOE (backbone, neck, head module) and YOLOv6 (backbone, neck) are
checked part by part. Reference: ``spec/module_trees/<family>/<config>.txt``
(the ``module_trees`` fixture) lists, for each shipped MMYOLO config, the
modules (dotted name, class) and state_dict entries (key, shape) in order.
The part configs are read from MMYOLO 0.6.0's own config files
(``.mim/configs/<family>``) and built with yolokit's registry, so this also
proves those config dicts are accepted unchanged. Matching the entries under
the parts' prefixes means MMYOLO checkpoints of these parts load.

The parity tests load one random state_dict into MMYOLO's and yolokit's
parts and compare the raw outputs (``mmyolo_reference``).
"""
import os.path as osp
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn as nn

from yolokit.registry import MODELS

PPYOLOE_PARTS = ('backbone', 'neck', 'bbox_head.head_module')
YOLOV6_PARTS = ('backbone', 'neck')
# (family, config, parts)
CONFIGS = [('ppyoloe', name, PPYOLOE_PARTS) for name in (
    'ppyoloe_plus_s_fast_8xb8-80e_coco', 'ppyoloe_plus_m_fast_8xb8-80e_coco',
    'ppyoloe_plus_l_fast_8xb8-80e_coco', 'ppyoloe_plus_x_fast_8xb8-80e_coco',
    'ppyoloe_plus_s_fast_1xb12-40e_cat', 'ppyoloe_s_fast_8xb32-300e_coco',
    'ppyoloe_s_fast_8xb32-400e_coco', 'ppyoloe_m_fast_8xb28-300e_coco',
    'ppyoloe_l_fast_8xb20-300e_coco', 'ppyoloe_x_fast_8xb16-300e_coco')] + [
    ('yolov6', name, YOLOV6_PARTS) for name in (
        'yolov6_n_syncbn_fast_8xb32-300e_coco',
        'yolov6_t_syncbn_fast_8xb32-300e_coco',
        'yolov6_s_syncbn_fast_8xb32-300e_coco',
        'yolov6_m_syncbn_fast_8xb32-300e_coco',
        'yolov6_l_syncbn_fast_8xb32-300e_coco',
        'yolov6_n_syncbn_fast_8xb32-400e_coco',
        'yolov6_t_syncbn_fast_8xb32-400e_coco',
        'yolov6_s_syncbn_fast_8xb32-400e_coco',
        'yolov6_s_fast_1xb12-40e_cat',
        'yolov6_v3_n_syncbn_fast_8xb32-300e_coco',
        'yolov6_v3_t_syncbn_fast_8xb32-300e_coco',
        'yolov6_v3_s_syncbn_fast_8xb32-300e_coco',
        'yolov6_v3_m_syncbn_fast_8xb32-300e_coco',
        'yolov6_v3_l_syncbn_fast_8xb32-300e_coco')]
MMYOLO_CONFIG_DIR = osp.join(
    osp.dirname(__file__), '..', '..', '.venv', 'reference', 'mmyolo-0.6.0',
    'mmyolo', '.mim', 'configs')


def _mmyolo_part_cfgs(family: str, name: str,
                      parts: Tuple[str, ...]) -> Dict[str, dict]:
    path = osp.join(MMYOLO_CONFIG_DIR, family, name + '.py')
    if not osp.exists(path):
        pytest.skip(f'MMYOLO 0.6.0 config {path} not found (see the '
                    '`mmyolo_reference` fixture in tests/conftest.py)')
    from mmengine.config import Config
    model = Config.fromfile(path).model
    cfgs = {}
    for part in parts:
        cfg = model
        for attr in part.split('.'):
            cfg = cfg[attr]
        cfgs[part] = cfg.to_dict()
    return cfgs


def _in_parts(name: str, parts: Tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + '.') for p in parts)


def _layout(parts: Dict[str, nn.Module]) -> Tuple[List[tuple], List[tuple]]:
    modules, params = [], []
    for prefix, model in parts.items():
        for name, m in model.named_modules():
            modules.append((f'{prefix}.{name}' if name else prefix,
                            type(m).__name__))
        for key, tensor in model.state_dict().items():
            params.append((f'{prefix}.{key}', tuple(tensor.shape)))
    return modules, params


def _assert_same_sequence(got: List[tuple], expected: List[tuple],
                          what: str) -> None:
    """Same entries in the same order; names the first few differences."""
    got_set, exp_set = set(got), set(expected)
    missing = [e for e in expected if e not in got_set][:5]
    unexpected = [e for e in got if e not in exp_set][:5]
    assert not missing and not unexpected, (
        f'{what}: missing {missing}, unexpected {unexpected}')
    assert got == expected, f'{what}: same entries, different order'


@pytest.mark.parametrize(
    'family, name, parts', CONFIGS, ids=[c[1] for c in CONFIGS])
def test_parts_match_module_tree(module_trees, family, name, parts):
    exp_modules, exp_params = module_trees[f'{family}/{name}']
    exp_modules = [(k, v) for k, v in exp_modules.items()
                   if _in_parts(k, parts)]
    exp_params = [(k, v) for k, v in exp_params.items()
                  if _in_parts(k, parts)]
    assert len(exp_params) > 100, name  # the parts hold hundreds of tensors

    parts = {k: MODELS.build(cfg)
             for k, cfg in _mmyolo_part_cfgs(family, name, parts).items()}
    got_modules, got_params = _layout(parts)

    _assert_same_sequence(got_modules, exp_modules, 'modules')
    _assert_same_sequence(got_params, exp_params, 'state_dict entries')


def _randomise(model: nn.Module) -> None:
    """Random weights and BN statistics so every branch matters."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if key.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)


def _build_both(mmyolo_reference, cfgs):
    ours = nn.ModuleList([MODELS.build(c) for c in cfgs.values()])
    ref = nn.ModuleList(
        [mmyolo_reference.build_model(c) for c in cfgs.values()])
    # the oracle must really be MMYOLO's code, not yolokit's
    assert all(type(m).__module__.startswith('mmyolo.') for m in ref)
    _randomise(ours)
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ours, ref


@pytest.mark.parametrize('name', [
    'yolov6_n_syncbn_fast_8xb32-300e_coco',  # v2.0: EfficientRep, RepPAFPN
    'yolov6_m_syncbn_fast_8xb32-300e_coco',  # v2.0: CSPBep, CSPRepPAFPN
    'yolov6_v3_n_syncbn_fast_8xb32-300e_coco',  # v3.0: RepBiPAFPN
    'yolov6_v3_m_syncbn_fast_8xb32-300e_coco',  # v3.0: CSPRepBiPAFPN
])
@pytest.mark.parametrize('training', [False, True])
def test_yolov6_parts_match_mmyolo(mmyolo_reference, name, training):
    cfgs = _mmyolo_part_cfgs('yolov6', name, YOLOV6_PARTS)
    ours, ref = _build_both(mmyolo_reference, cfgs)
    ours.train(training)
    ref.train(training)
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = ours[1](ours[0](x))
        ref_feats = ref[1](ref[0](x))
    assert len(feats) == len(ref_feats) == 3
    for got, exp in zip(feats, ref_feats):
        torch.testing.assert_close(got, exp, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('training', [False, True])
def test_plus_s_outputs_match_mmyolo(mmyolo_reference, training):
    cfgs = _mmyolo_part_cfgs('ppyoloe', 'ppyoloe_plus_s_fast_8xb8-80e_coco',
                             PPYOLOE_PARTS)
    cfgs['bbox_head.head_module']['num_classes'] = 3  # keep it small
    ours, ref = _build_both(mmyolo_reference, cfgs)
    ours.train(training)
    ref.train(training)
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))

    def run(parts):
        feats = parts[1](parts[0](x))
        return feats, parts[2](feats)

    with torch.no_grad():
        feats, outs = run(ours)
        ref_feats, ref_outs = run(ref)
    for got, exp in zip(feats, ref_feats):
        torch.testing.assert_close(got, exp, rtol=1e-5, atol=1e-5)
    assert len(outs) == len(ref_outs) == (3 if training else 2)
    for got_level, exp_level in zip(outs, ref_outs):
        for got, exp in zip(got_level, exp_level):
            torch.testing.assert_close(got, exp, rtol=1e-5, atol=1e-5)
