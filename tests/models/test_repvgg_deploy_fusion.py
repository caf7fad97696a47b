"""``--deploy`` fusion keeps the outputs of every family with RepVGG blocks.

``tools/test.py --deploy`` and ``SwitchToDeployHook`` call
``yolokit.utils.switch_to_deploy``: every ``RepVGGBlock`` collapses its 3x3,
1x1 and identity branches into one 3x3 conv, then BatchNorm is folded into
the convs. Both are exact linear rewrites, so the detector built from a
shipped config must give the same raw outputs before and after, up to the
float rounding of summing in another order. Random BN statistics and
affine parameters make the folding non-trivial.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from yolokit.models.layers import RepVGGBlock
from yolokit.registry import MODELS
from yolokit.utils.switch_to_deploy import switch_to_deploy

CONFIGS = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')

# config, RepVGG blocks counted by hand from the architecture (None: not
# counted; the test still requires at least one)
CASES = [
    ('yolov6/yolov6_n_syncbn_fast_8xb32-400e_coco.py', None),
    ('yolov6/yolov6_v3_n_syncbn_fast_8xb32-300e_coco.py', None),
    ('yolov6/yolov6_v3_m_syncbn_fast_8xb32-300e_coco.py', None),
    # the three 3x3 output convs of the neck (use_repconv_outs)
    ('yolov7/yolov7_l_syncbn_fast_8x16b-300e_coco.py', 3),
    # backbone stages of round([3, 6, 6, 3] * 0.33) = 1, 2, 2, 1 blocks,
    # neck: 5 CSP layers of round(3 * 0.33) = 1 block; 6 + 5 = 11
    ('ppyoloe/ppyoloe_plus_s_fast_8xb8-80e_coco.py', 11),
]


@pytest.mark.parametrize('config,num_blocks', CASES,
                         ids=[osp.basename(c) for c, _ in CASES])
def test_deploy_fusion_keeps_outputs(config, num_blocks):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(osp.join(CONFIGS, config)).model)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                # scales below 1 keep the three-branch sums O(1) through
                # the deep models instead of growing to 1e15
                module.weight.uniform_(0.3, 0.9)
                module.bias.normal_(0, 0.1)
    model.eval()
    blocks = [m for m in model.modules() if isinstance(m, RepVGGBlock)]
    assert blocks, config
    if num_blocks is not None:
        assert len(blocks) == num_blocks
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        before = model(x, mode='tensor')
        switch_to_deploy(model)
        after = model(x, mode='tensor')
    for block in blocks:
        assert block.deploy and hasattr(block, 'rbr_reparam')
        assert not any(
            hasattr(block, b)
            for b in ('rbr_dense', 'rbr_1x1', 'rbr_identity'))
    assert not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for levels_before, levels_after in zip(before, after):
        for a, b in zip(levels_before, levels_after):
            # measured errors reach 2e-5 of a map's largest value
            scale = a.abs().max().item()
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4 * scale)
