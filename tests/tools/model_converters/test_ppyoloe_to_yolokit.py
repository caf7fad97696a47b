"""tools/model_converters/ppyoloe_to_yolokit.py on a synthetic
PaddleDetection checkpoint of PP-YOLOE+ s.

No PaddlePaddle checkpoint is downloaded: the test writes a ``.pdparams``
file (a pickled dict of NumPy arrays, as ``paddle.save`` writes it) whose
names and shapes follow PaddleDetection's module construction, written
down below from ``ppdet/modeling/backbones/cspresnet.py``
(``CSPResNet``), ``necks/custom_pan.py`` (``CustomCSPPAN``) and
``heads/ppyoloe_head.py`` (``PPYOLOEHead``) with the
``ppyoloe_plus_crn_s_80e_coco`` settings (width 0.50, depth 0.33, large
stem, alpha in the backbone blocks, SPP in the first FPN stage, reg_max
16). Every array holds distinct random numbers, so a swapped tensor of
equal shape is caught by the spot checks; the strict load into the model
of the MMYOLO/yolokit config checks that every key is filled with an array
of the right shape. MMYOLO 0.6.0's own converter (from the reference
sdist) converts the same file as a second oracle.
"""
import importlib.util
import os.path as osp
import pickle
import sys

import numpy as np
import pytest
import torch

from yolokit.registry import MODELS

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                  'ppyoloe_to_yolokit.py')
MMYOLO_MIM = osp.join(REPO_ROOT, '.venv', 'reference', 'mmyolo-0.6.0',
                      'mmyolo', '.mim')
CONFIG = 'ppyoloe/ppyoloe_plus_s_fast_8xb8-80e_coco.py'
CONFIG_FILES = {
    'mmyolo': osp.join(MMYOLO_MIM, 'configs', CONFIG),
    'yolokit': osp.join(REPO_ROOT, 'configs', CONFIG),
}


def _load_script(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_script('ppyoloe_to_yolokit', SCRIPT)


# --- PaddleDetection's parameter names and shapes (PP-YOLOE+ s) ----------
class PaddleNames:
    """Collects ``name -> shape`` in PaddleDetection's construction order."""

    def __init__(self):
        self.shapes = {}

    def conv_bn(self, p, c_in, c_out, k):
        # ConvBNLayer: Conv2D without bias, BatchNorm2D (weight, bias,
        # _mean, _variance)
        self.shapes[f'{p}.conv.weight'] = (c_out, c_in, k, k)
        for name in ('weight', 'bias', '_mean', '_variance'):
            self.shapes[f'{p}.bn.{name}'] = (c_out, )

    def basic_block(self, p, c, alpha):
        # BasicBlock: conv1 = ConvBNLayer 3x3, conv2 = RepVggBlock (conv1
        # 3x3, conv2 1x1, optional alpha of shape [1])
        self.conv_bn(f'{p}.conv1', c, c, 3)
        self.conv_bn(f'{p}.conv2.conv1', c, c, 3)
        self.conv_bn(f'{p}.conv2.conv2', c, c, 1)
        if alpha:
            self.shapes[f'{p}.conv2.alpha'] = (1, )

    def csp_res_stage(self, p, c_in, c_out, n):
        mid = (c_in + c_out) // 2
        self.conv_bn(f'{p}.conv_down', c_in, mid, 3)
        self.conv_bn(f'{p}.conv1', mid, mid // 2, 1)
        self.conv_bn(f'{p}.conv2', mid, mid // 2, 1)
        for i in range(n):
            self.basic_block(f'{p}.blocks.{i}', mid // 2, alpha=True)
        self.shapes[f'{p}.attn.fc.weight'] = (mid, mid, 1, 1)
        self.shapes[f'{p}.attn.fc.bias'] = (mid, )
        self.conv_bn(f'{p}.conv3', mid, c_out, 1)

    def csp_stage(self, p, c_in, c_out, n, spp):
        mid = c_out // 2
        self.conv_bn(f'{p}.conv1', c_in, mid, 1)
        self.conv_bn(f'{p}.conv2', c_in, mid, 1)
        for i in range(n):
            self.basic_block(f'{p}.convs.{i}', mid, alpha=False)
            if spp and i == (n - 1) // 2:  # SPP: 3 poolings + identity
                self.conv_bn(f'{p}.convs.spp.conv', mid * 4, mid, 1)
        self.conv_bn(f'{p}.conv3', mid * 2, c_out, 1)

    def ese_attn(self, p, c):
        self.shapes[f'{p}.fc.weight'] = (c, c, 1, 1)
        self.shapes[f'{p}.fc.bias'] = (c, )
        self.conv_bn(f'{p}.conv', c, c, 1)


def ppyoloe_plus_s_names(num_classes=80, reg_max=16):
    names = PaddleNames()
    width, depth = 0.5, 0.33
    ch = [max(round(c * width), 1) for c in (64, 128, 256, 512, 1024)]
    layers = [max(round(n * depth), 1) for n in (3, 6, 6, 3)]  # 1, 2, 2, 1
    names.conv_bn('backbone.stem.conv1', 3, ch[0] // 2, 3)
    names.conv_bn('backbone.stem.conv2', ch[0] // 2, ch[0] // 2, 3)
    names.conv_bn('backbone.stem.conv3', ch[0] // 2, ch[0], 3)
    for i in range(4):
        names.csp_res_stage(f'backbone.stages.{i}', ch[i], ch[i + 1],
                            layers[i])
    # CustomCSPPAN: inputs deepest first, out_channels [768, 384, 192]
    ins = ch[2:][::-1]  # 512, 256, 128
    outs = [round(c * width) for c in (768, 384, 192)]  # 384, 192, 96
    n = max(round(3 * depth), 1)
    for i, (c_in, c_out) in enumerate(zip(ins, outs)):
        if i > 0:
            c_in += outs[i - 1] // 2
        names.csp_stage(f'neck.fpn_stages.{i}.0', c_in, c_out, n, i == 0)
        if i < 2:
            names.conv_bn(f'neck.fpn_routes.{i}', c_out, c_out // 2, 1)
    for i in range(2):  # pan lists in level order (built reversed)
        names.conv_bn(f'neck.pan_routes.{i}', outs[i + 1], outs[i + 1], 3)
        names.csp_stage(f'neck.pan_stages.{i}.0', outs[i] + outs[i + 1],
                        outs[i], n, False)
    for i, c in enumerate(outs):  # head levels: stride 32, 16, 8
        names.ese_attn(f'yolo_head.stem_cls.{i}', c)
        names.ese_attn(f'yolo_head.stem_reg.{i}', c)
        names.shapes[f'yolo_head.pred_cls.{i}.weight'] = (num_classes, c, 3, 3)
        names.shapes[f'yolo_head.pred_cls.{i}.bias'] = (num_classes, )
        names.shapes[f'yolo_head.pred_reg.{i}.weight'] = (4 * (reg_max + 1), c,
                                                          3, 3)
        names.shapes[f'yolo_head.pred_reg.{i}.bias'] = (4 * (reg_max + 1), )
    names.shapes['yolo_head.proj_conv.weight'] = (1, reg_max + 1, 1, 1)
    return names.shapes


def synthetic_pdparams(seed=0):
    rng = np.random.RandomState(seed)
    arrays = {}
    for name, shape in ppyoloe_plus_s_names().items():
        if name.endswith('._variance'):
            arrays[name] = rng.uniform(0.5, 2, shape).astype(np.float32)
        else:
            arrays[name] = rng.uniform(-0.1, 0.1, shape).astype(np.float32)
    # PPYOLOEHead sets proj_conv to linspace(0, reg_max, reg_max + 1)
    arrays['yolo_head.proj_conv.weight'] = np.arange(
        17, dtype=np.float32).reshape(1, 17, 1, 1)
    return arrays


def write_pdparams(path, arrays, protocol=4):
    obj = dict(arrays)
    # paddle.save adds this name table (strings only)
    obj['StructuredToParameterName@@'] = {k: k for k in arrays}
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=protocol)


# Spot checks: PaddleDetection name -> yolokit name, one per rule.
SPOT_CHECKS = [
    ('backbone.stem.conv1.conv.weight', 'backbone.stem.0.conv.weight'),
    ('backbone.stem.conv3.bn._variance', 'backbone.stem.2.bn.running_var'),
    ('backbone.stages.0.conv_down.conv.weight',
     'backbone.stage1.0.conv_down.conv.weight'),
    ('backbone.stages.1.blocks.1.conv2.conv1.conv.weight',
     'backbone.stage2.0.blocks.1.conv2.rbr_dense.conv.weight'),
    ('backbone.stages.1.blocks.1.conv2.conv2.bn._mean',
     'backbone.stage2.0.blocks.1.conv2.rbr_1x1.bn.running_mean'),
    ('backbone.stages.3.blocks.0.conv2.alpha',
     'backbone.stage4.0.blocks.0.conv2.alpha'),
    ('backbone.stages.2.attn.fc.weight',
     'backbone.stage3.0.attn.fc.conv.weight'),
    ('neck.fpn_stages.0.0.convs.spp.conv.conv.weight',
     'neck.reduce_layers.2.0.blocks.spp.conv2.conv.weight'),
    ('neck.fpn_stages.2.0.convs.0.conv2.conv1.bn.weight',
     'neck.top_down_layers.1.0.blocks.0.conv2.rbr_dense.bn.weight'),
    ('neck.fpn_routes.1.conv.weight', 'neck.upsample_layers.1.0.conv.weight'),
    ('neck.pan_routes.1.conv.weight', 'neck.downsample_layers.0.conv.weight'),
    ('neck.pan_stages.0.0.conv3.bn.bias',
     'neck.bottom_up_layers.1.0.conv3.bn.bias'),
    ('yolo_head.stem_cls.0.fc.weight',
     'bbox_head.head_module.cls_stems.2.fc.weight'),
    ('yolo_head.stem_reg.2.conv.bn._mean',
     'bbox_head.head_module.reg_stems.0.conv.bn.running_mean'),
    ('yolo_head.pred_cls.1.bias', 'bbox_head.head_module.cls_preds.1.bias'),
    ('yolo_head.pred_reg.0.weight',
     'bbox_head.head_module.reg_preds.2.weight'),
]


@pytest.fixture(scope='module')
def pdparams(tmp_path_factory):
    path = tmp_path_factory.mktemp('ppyoloe') / 'ppyoloe_plus_crn_s.pdparams'
    arrays = synthetic_pdparams()
    write_pdparams(path, arrays)
    return str(path), arrays


@pytest.fixture(scope='module')
def converted(pdparams, tmp_path_factory):
    """The converter run through its command line."""
    src, _ = pdparams
    dst = str(tmp_path_factory.mktemp('out') / 'yolokit_ppyoloe_plus_s.pth')
    argv = sys.argv
    sys.argv = ['ppyoloe_to_yolokit.py', '--src', src, '--dst', dst]
    try:
        converter.main()
    finally:
        sys.argv = argv
    return torch.load(dst, weights_only=True)['state_dict']


@pytest.fixture(scope='module', params=sorted(CONFIG_FILES))
def model(request):
    path = CONFIG_FILES[request.param]
    if not osp.exists(path):
        pytest.skip(f'{request.param} config {path} not found')
    from mmengine.config import Config
    from yolokit.utils import register_all_modules
    register_all_modules()
    return MODELS.build(Config.fromfile(path).model).eval()


def test_spot_checks_land_on_the_right_keys(pdparams, converted):
    _, arrays = pdparams
    for paddle_key, yolokit_key in SPOT_CHECKS:
        assert yolokit_key in converted, yolokit_key
        np.testing.assert_array_equal(
            converted[yolokit_key].numpy(),
            arrays[paddle_key],
            err_msg=f'{paddle_key} -> '
            f'{yolokit_key}')


def test_every_array_used_once_and_counters_added(pdparams, converted):
    _, arrays = pdparams
    counters = [k for k in converted if k.endswith('num_batches_tracked')]
    num_bn = sum(k.endswith('._variance') for k in arrays)
    assert len(counters) == num_bn
    assert all(converted[k].item() == 0 for k in counters)
    # everything but the fixed projection, each array exactly once
    weights = [v for k, v in converted.items() if k not in counters]
    assert len(weights) == len(arrays) - 1
    fingerprints = {float(v.double().sum()) for v in weights}
    assert len(fingerprints) == len(weights)  # no array copied twice
    assert all(v.dtype == torch.float32 for v in weights)


def test_strict_load_and_forward(model, converted):
    # strict=True: every key of the model is filled, shapes agree
    model.load_state_dict(converted, strict=True)
    with torch.no_grad():
        cls_scores, bbox_preds, *_ = model(
            torch.rand(1, 3, 96, 96), mode='tensor')
    assert [tuple(c.shape) for c in cls_scores] == [(1, 80, 12, 12),
                                                    (1, 80, 6, 6),
                                                    (1, 80, 3, 3)]
    assert all(torch.isfinite(c).all() for c in cls_scores)
    assert all(torch.isfinite(b).all() for b in bbox_preds)


def test_matches_mmyolo_converter(pdparams, converted, tmp_path):
    script = osp.join(MMYOLO_MIM, 'tools', 'model_converters',
                      'ppyoloe_to_mmyolo.py')
    if not osp.exists(script):
        pytest.skip(f'MMYOLO 0.6.0 converter {script} not found (see the '
                    '`mmyolo_reference` fixture in tests/conftest.py)')
    src, _ = pdparams
    dst = str(tmp_path / 'mmyolo.pth')
    _load_script('ppyoloe_to_mmyolo', script).convert(src, dst)
    theirs = torch.load(dst, weights_only=True)['state_dict']
    # MMYOLO keeps the projection under a key its model does not have
    # (loaded non-strictly) and adds no BatchNorm counters
    theirs.pop('bbox_head.head_module.proj_conv.weight')
    ours = {
        k: v
        for k, v in converted.items() if not k.endswith('num_batches_tracked')
    }
    assert list(ours) == list(theirs)
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key


def test_imagenet_backbone(tmp_path):
    # CSPResNet pretrained on ImageNet: the backbone keys without prefix
    arrays = {
        k[len('backbone.'):]: v
        for k, v in synthetic_pdparams(1).items() if k.startswith('backbone.')
    }
    out = converter.convert(arrays, imagenet_pretrain=True)
    assert all(k.startswith('backbone.') for k in out)
    np.testing.assert_array_equal(
        out['backbone.stage2.0.blocks.1.conv2.rbr_dense.conv.weight'].numpy(),
        arrays['stages.1.blocks.1.conv2.conv1.conv.weight'])


def test_protocol_2_file_from_numpy_1_names(tmp_path):
    # paddle writes under NumPy 1 (numpy.core...) and may use protocol 2
    path = tmp_path / 'p2.pdparams'
    arrays = {
        'backbone.stem.conv1.conv.weight': np.ones((2, 3, 3, 3), np.float32)
    }
    write_pdparams(path, arrays, protocol=2)
    loaded = converter.load_pdparams(str(path))
    assert list(loaded) == list(arrays)  # the name table is left out
    np.testing.assert_array_equal(loaded['backbone.stem.conv1.conv.weight'],
                                  arrays['backbone.stem.conv1.conv.weight'])
    raw = path.read_bytes().replace(b'numpy._core.multiarray',
                                    b'numpy.core.multiarray')
    path.write_bytes(raw)
    assert converter.load_pdparams(str(path)).keys() == arrays.keys()


class _Exploit:

    def __reduce__(self):
        return (print, ('this must not run', ))


def test_refuses_non_numpy_objects(tmp_path, capsys):
    path = tmp_path / 'evil.pdparams'
    with open(path, 'wb') as f:
        pickle.dump({'backbone.stem.conv1.conv.weight': _Exploit()}, f)
    with pytest.raises(pickle.UnpicklingError, match='builtins.print'):
        converter.load_pdparams(str(path))
    assert 'must not run' not in capsys.readouterr().out


def test_unknown_keys_and_learned_projection_are_errors():
    arrays = synthetic_pdparams()
    bad = dict(arrays)
    bad['neck.encoder.layers.0.linear1.weight'] = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match='neck.encoder.layers.0.linear1'):
        converter.convert(bad)
    bad = dict(arrays)
    bad['yolo_head.proj_conv.weight'] = bad['yolo_head.proj_conv.weight'] * 2
    with pytest.raises(ValueError, match='proj_conv'):
        converter.convert(bad)
    with pytest.raises(ValueError, match='no PP-YOLOE weights'):
        converter.convert({'fc.weight': np.zeros(3, np.float32)})


def test_cli_errors(tmp_path, monkeypatch):

    def run(src, dst):
        monkeypatch.setattr(
            sys, 'argv',
            ['x', '--src', str(src), '--dst',
             str(dst)])
        converter.main()

    with pytest.raises(FileNotFoundError, match='--src'):
        run(tmp_path / 'missing.pdparams', tmp_path / 'o.pth')
    notes = tmp_path / 'notes.pdparams'
    notes.write_text('not weights')
    with pytest.raises(ValueError, match='not a pickled PaddleDetection'):
        run(notes, tmp_path / 'o.pth')
    assert not (tmp_path / 'o.pth').exists()
