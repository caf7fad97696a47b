"""tools/model_converters/yolox_to_yolokit.py against the official YOLOX
model code (Megvii's ``yolox`` 0.3.0 sdist).

The reference is the unpacked sdist in ``<venv>/reference/yolox-0.3.0``
(``tools/misc/setup_env.sh`` downloads it; set ``YOLOX_REFERENCE_DIR`` to
use another copy). Only its model definition files are imported
(``yolox/models/{network_blocks,darknet,losses,yolo_pafpn,yolo_head,
yolox}.py``), by file path, under stub ``yolox`` / ``yolox.models``
packages: the real package ``__init__`` files pull in the whole training
stack. ``yolo_head.py`` imports two helpers from ``yolox.utils`` and
``loguru``'s logger; those are stubbed below (``meshgrid`` with the same
one-line body as the original, ``bboxes_iou`` only used by the training
loss and never called here, ``logger`` a standard logger).

How the outputs are compared: official YOLOX-s and YOLOX-tiny are built
with random weights; every BatchNorm gets random affine parameters and
running statistics (so a swapped or missing tensor shows up) and
``eps=1e-3, momentum=0.03`` as the official exps set them. The converted
weights load with ``strict=True`` into yolokit's model from the shipped
config. Both see the same real photo through the config's test pipeline.
In eval mode the official head outputs, per prior, ``(x, y, w, h,
sigmoid(obj), sigmoid(cls)...)`` with the box already decoded; with
``decode_in_inference = False`` the box stays the raw regression output.
So per level we compare the raw box deltas with yolokit's ``bbox_preds``,
the sigmoids of yolokit's ``objectnesses`` and ``cls_scores`` with the
official probabilities, and the official decoded (centre, size) boxes with
yolokit's ``YOLOXBBoxCoder`` decoding of the same priors.
"""
import importlib.util
import logging
import math
import os
import os.path as osp
import sys
import types

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from yolokit.registry import MODELS, TRANSFORMS

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                  'yolox_to_yolokit.py')
OFFICIAL_FILES = ('network_blocks', 'darknet', 'losses', 'yolo_pafpn',
                  'yolo_head', 'yolox')
# size: (depth, width, yolokit config)
SIZES = {
    's': (0.33, 0.5, 'yolox_s_fast_8xb8-300e_coco.py'),
    'tiny': (0.33, 0.375, 'yolox_tiny_fast_8xb8-300e_coco.py'),
}


def _load_converter():
    spec = importlib.util.spec_from_file_location('yolox_to_yolokit', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_converter()


def _reference_dir():
    candidates = [
        os.environ.get('YOLOX_REFERENCE_DIR'),
        osp.join(sys.prefix, 'reference', 'yolox-0.3.0'),
        osp.join(REPO_ROOT, '.venv', 'reference', 'yolox-0.3.0'),
    ]
    for path in candidates:
        if path and osp.isfile(
                osp.join(path, 'yolox', 'models', 'yolo_head.py')):
            return path
    return None


@pytest.fixture(scope='module')
def official():
    """The official model classes, loaded from the sdist's model files."""
    root = _reference_dir()
    if root is None:
        pytest.skip('official YOLOX 0.3.0 source not found (run '
                    'tools/misc/setup_env.sh, which unpacks it into '
                    '<venv>/reference/yolox-0.3.0, or set '
                    'YOLOX_REFERENCE_DIR)')
    names = ['yolox', 'yolox.models', 'yolox.utils', 'loguru'
             ] + [f'yolox.models.{n}' for n in OFFICIAL_FILES]
    saved = {n: sys.modules[n] for n in names if n in sys.modules}

    package = types.ModuleType('yolox')
    package.__path__ = [osp.join(root, 'yolox')]
    models = types.ModuleType('yolox.models')
    models.__path__ = [osp.join(root, 'yolox', 'models')]
    # Stubs of what yolo_head.py imports from the rest of the package.
    utils = types.ModuleType('yolox.utils')
    utils.meshgrid = lambda *tensors: torch.meshgrid(*tensors, indexing='ij')

    def _training_only(*args, **kwargs):
        raise NotImplementedError('stub: only the training loss uses it')

    utils.bboxes_iou = _training_only
    stubs = {'yolox': package, 'yolox.models': models, 'yolox.utils': utils}
    if importlib.util.find_spec('loguru') is None:
        loguru = types.ModuleType('loguru')
        loguru.logger = logging.getLogger('yolox-reference')
        stubs['loguru'] = loguru
    sys.modules.update(stubs)
    loaded = {}
    try:
        for name in OFFICIAL_FILES:
            full_name = f'yolox.models.{name}'
            spec = importlib.util.spec_from_file_location(
                full_name, osp.join(root, 'yolox', 'models', f'{name}.py'))
            module = importlib.util.module_from_spec(spec)
            sys.modules[full_name] = module
            spec.loader.exec_module(module)
            loaded[name] = module
        yield types.SimpleNamespace(
            YOLOPAFPN=loaded['yolo_pafpn'].YOLOPAFPN,
            YOLOXHead=loaded['yolo_head'].YOLOXHead,
            YOLOX=loaded['yolox'].YOLOX)
    finally:
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def _official_model(official, depth, width, depthwise=False, seed=0):
    torch.manual_seed(seed)
    in_channels = [256, 512, 1024]
    backbone = official.YOLOPAFPN(
        depth, width, in_channels=in_channels, depthwise=depthwise)
    head = official.YOLOXHead(
        80, width, in_channels=in_channels, depthwise=depthwise)
    model = official.YOLOX(backbone, head)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                # what the official exps do in get_model()
                m.eps, m.momentum = 1e-3, 0.03
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.3, 0.3, generator=g)
                m.running_mean.uniform_(-0.3, 0.3, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.num_batches_tracked.fill_(
                    int(torch.randint(1, 1000, (1, ), generator=g)))
        # spread the logits, as a trained model's are
        for conv in list(head.cls_preds) + list(head.obj_preds):
            conv.weight.mul_(8.0)
            conv.bias.uniform_(-4, -1, generator=g)
    return model.eval()


def _photo_input(cfg, model, images_dir):
    """dog.jpg through the config's test pipeline (keep-ratio resize, pad
    to a square with 114)."""
    results = dict(
        img_path=osp.join(images_dir, 'dog.jpg'), img_id=0, instances=[])
    for step in cfg.test_dataloader.dataset.pipeline:
        results = TRANSFORMS.build(step)(results)
    return model.data_preprocessor(pseudo_collate([results]), False)


def _flatten(levels):
    return torch.cat([
        x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1])
        for x in levels
    ],
                     dim=1)


@pytest.mark.e2e
@pytest.mark.parametrize('size', list(SIZES))
def test_converted_model_matches_official(size, official, images_dir):
    depth, width, config = SIZES[size]
    reference = _official_model(official, depth, width)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'yolox', config))
    model = MODELS.build(cfg.model)
    state_dict = converter.convert(reference.state_dict())
    model.load_state_dict(state_dict, strict=True)
    model.eval()

    data = _photo_input(cfg, model, images_dir)
    inputs = data['inputs']
    side = 640 if size == 's' else 416
    assert inputs.shape == (1, 3, side, side)
    assert inputs.std() > 10  # a real photo, not padding
    with torch.no_grad():
        reference.head.decode_in_inference = False
        raw = reference(inputs)
        reference.head.decode_in_inference = True
        decoded = reference(inputs)
        cls_scores, bbox_preds, objectnesses = model(inputs, mode='tensor')

    num_priors = sum((side // s)**2 for s in (8, 16, 32))
    assert raw.shape == (1, num_priors, 85)
    ours_bbox = _flatten(bbox_preds)
    ours_obj = _flatten(objectnesses).sigmoid()
    ours_cls = _flatten(cls_scores).sigmoid()
    # the raw outputs are O(1); compare absolutely
    assert ours_bbox.abs().max() > 0.1
    torch.testing.assert_close(ours_bbox, raw[..., :4], rtol=0, atol=1e-5)
    torch.testing.assert_close(ours_obj, raw[..., 4:5], rtol=0, atol=1e-5)
    torch.testing.assert_close(ours_cls, raw[..., 5:], rtol=0, atol=1e-5)
    # the probabilities are spread, so the comparison means something
    assert ours_obj.max() - ours_obj.min() > 0.1

    # decoded boxes: official (cx, cy, w, h) vs yolokit's coder
    head = model.bbox_head
    featmap_sizes = [c.shape[2:] for c in cls_scores]
    priors = torch.cat(
        head.prior_generator.grid_priors(
            featmap_sizes, device=inputs.device, with_stride=True))
    boxes = head.bbox_coder.decode(priors[:, :2], ours_bbox, priors[:, 2])[0]
    ours_cxcywh = torch.cat(
        [(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]],
        dim=-1)
    torch.testing.assert_close(
        ours_cxcywh, decoded[0, :, :4], rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(
        decoded[0, :, 4:], raw[0, :, 4:], rtol=0, atol=0)


def test_nano_checkpoint_is_rejected(official):
    reference = _official_model(official, 0.33, 0.25, depthwise=True)
    with pytest.raises(ValueError, match='nano'):
        converter.convert(reference.state_dict())


def test_every_official_key_is_used_once(official):
    reference = _official_model(official, 0.67, 0.75)  # YOLOX-m
    state_dict = reference.state_dict()
    converted = converter.convert(state_dict)
    assert len(converted) == len(state_dict)
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'yolox',
                 'yolox_m_fast_8xb8-300e_coco.py'))
    model = MODELS.build(cfg.model)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in converted.items()} == expected


def test_command_line(official, tmp_path, monkeypatch):
    reference = _official_model(official, 0.33, 0.375)
    src = tmp_path / 'yolox_tiny.pth'
    # the layout of the released checkpoints
    torch.save(
        dict(
            start_epoch=300,
            model={
                k: v.half() if v.is_floating_point() else v
                for k, v in reference.state_dict().items()
            },
            optimizer=dict(state={}, param_groups=[])), src)
    dst = tmp_path / 'yolokit_tiny.pth'
    monkeypatch.setattr(
        sys, 'argv',
        ['yolox_to_yolokit.py', '--src',
         str(src), '--dst',
         str(dst)])
    converter.main()
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    state_dict = saved['state_dict']
    assert all(v.dtype != torch.float16 for v in state_dict.values())
    key = 'bbox_head.head_module.multi_level_conv_obj.2.bias'
    torch.testing.assert_close(state_dict[key],
                               reference.head.obj_preds[2].bias.half().float())


# ------------------------------------- key mapping (needs no reference)


@pytest.mark.parametrize('official_key, yolokit_key', [
    ('backbone.backbone.stem.conv.conv.weight',
     'backbone.stem.conv.conv.weight'),
    ('backbone.backbone.dark2.0.bn.running_var',
     'backbone.stage1.0.bn.running_var'),
    ('backbone.backbone.dark3.1.m.2.conv2.bn.running_mean',
     'backbone.stage2.1.blocks.2.conv2.bn.running_mean'),
    ('backbone.backbone.dark4.1.conv3.conv.weight',
     'backbone.stage3.1.final_conv.conv.weight'),
    ('backbone.backbone.dark5.1.conv2.bn.bias',
     'backbone.stage4.1.conv2.bn.bias'),
    ('backbone.backbone.dark5.2.conv2.conv.weight',
     'backbone.stage4.2.short_conv.conv.weight'),
    ('backbone.backbone.dark5.0.dconv.conv.weight',
     'backbone.stage4.0.depthwise_conv.conv.weight'),
    ('backbone.lateral_conv0.conv.weight', 'neck.reduce_layers.2.conv.weight'),
    ('backbone.C3_p4.conv1.bn.weight',
     'neck.top_down_layers.0.0.main_conv.bn.weight'),
    ('backbone.reduce_conv1.bn.num_batches_tracked',
     'neck.top_down_layers.0.1.bn.num_batches_tracked'),
    ('backbone.C3_p3.m.0.conv1.conv.weight',
     'neck.top_down_layers.1.blocks.0.conv1.conv.weight'),
    ('backbone.bu_conv2.pconv.bn.weight',
     'neck.downsample_layers.0.pointwise_conv.bn.weight'),
    ('backbone.C3_n4.conv3.conv.weight',
     'neck.bottom_up_layers.1.final_conv.conv.weight'),
    ('head.stems.1.conv.weight', 'neck.out_layers.1.conv.weight'),
    ('head.cls_convs.2.1.bn.bias',
     'bbox_head.head_module.multi_level_cls_convs.2.1.bn.bias'),
    ('head.reg_convs.0.0.dconv.bn.running_var',
     'bbox_head.head_module.multi_level_reg_convs.0.0.depthwise_conv.bn.'
     'running_var'),
    ('head.obj_preds.2.bias', 'bbox_head.head_module.multi_level_conv_obj.2.'
     'bias'),
])
def test_key_mapping(official_key, yolokit_key):
    assert converter.convert_key(official_key) == yolokit_key


def test_unknown_keys_are_reported():
    with pytest.raises(ValueError, match='not part of the official YOLOX'):
        converter.convert({
            'backbone.backbone.stem.0.conv.weight':
            torch.zeros(1),  # YOLOv3
        })
    state = {'module.head.obj_preds.0.bias': torch.zeros(1, dtype=torch.half)}
    converted = converter.convert(state)  # DDP prefix stripped, cast
    assert converted['bbox_head.head_module.multi_level_conv_obj.0.bias'] \
        .dtype == torch.float32
    assert math.isfinite(
        float(converted['bbox_head.head_module.multi_level_conv_obj.0.bias']))
