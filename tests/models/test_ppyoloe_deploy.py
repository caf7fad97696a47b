"""switch_to_deploy fuses every RepVGG block of PP-YOLOE+-s, same outputs.

The backbone and neck of MMYOLO's ``ppyoloe_plus_s_fast_8xb8-80e_coco``
config are built (the config dict read from MMYOLO 0.6.0's file), given
random weights and BN statistics, and run in eval mode before and after
``yolokit.utils.switch_to_deploy``. RepVGG fusion and BN folding are exact
linear rewrites, so only float rounding may differ.
"""
import os.path as osp

import pytest
import torch
import torch.nn as nn

from yolokit.models.layers import RepVGGBlock
from yolokit.registry import MODELS
from yolokit.utils.switch_to_deploy import switch_to_deploy

CONFIG = osp.join(osp.dirname(__file__), '..', '..', '.venv', 'reference',
                  'mmyolo-0.6.0', 'mmyolo', '.mim', 'configs', 'ppyoloe',
                  'ppyoloe_plus_s_fast_8xb8-80e_coco.py')


def test_plus_s_deploy_equal():
    if not osp.exists(CONFIG):
        pytest.skip(f'MMYOLO 0.6.0 config {CONFIG} not found')
    from mmengine.config import Config
    cfg = Config.fromfile(CONFIG).model
    model = nn.Sequential(MODELS.build(cfg.backbone.to_dict()),
                          MODELS.build(cfg.neck.to_dict()))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
    model.eval()
    blocks = [m for m in model.modules() if isinstance(m, RepVGGBlock)]
    # s: backbone stages of round([3, 6, 6, 3] * 0.33) = 1, 2, 2, 1 blocks,
    # neck 5 CSP layers of round(3 * 0.33) = 1 block: 6 + 5 = 11
    assert len(blocks) == 11
    x = torch.randn(1, 3, 64, 64, generator=gen)
    with torch.no_grad():
        before = model(x)
        switch_to_deploy(model)
        after = model(x)
    assert all(b.deploy and hasattr(b, 'rbr_reparam') for b in blocks)
    assert not any(isinstance(m, nn.BatchNorm2d) for b in blocks
                   for m in b.modules())
    for b, a in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
