"""``tools/model_converters/yolov5_to_yolokit.py`` against official YOLOv5.

The reference is the official architecture, built by the ``yolov5`` PyPI
package (v7.0.14, the official v7.0 model code) from its bundled
``yolov5s.yaml`` (P5) and ``hub/yolov5s6.yaml`` (P6), with random weights
(no downloads). A converted checkpoint must:

* have exactly the keys and shapes MMYOLO 0.6.0 has for the same config
  (``spec/module_trees/yolov5/*.txt``);
* load into the yolokit model of that config with ``strict=True``;
* make that model produce the same raw head maps as the official ``Detect``
  layer, and the same detections as the official decoded output passed
  through the official ``non_max_suppression``.

The ``yolov5`` package's import chain needs ``ultralytics`` only for one
``check_requirements`` helper that model building never calls, so a stub
module stands in for ``ultralytics.utils.checks`` during the import (the real
package is a second framework whose import probes the network). See
``requirements/reference*.txt``.
"""
import importlib.util
import io
import os.path as osp
import pickletools
import sys
import types
import warnings
import zipfile
from typing import Dict, List, Tuple

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from yolokit.registry import MODELS

TOOL = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))),
    'tools', 'model_converters', 'yolov5_to_yolokit.py')

# (official yaml relative to the yolov5 package, yolokit config, module tree)
ARCHS = {
    'P5': ('models/yolov5s.yaml', 'yolov5_s-v61_syncbn_fast_8xb16-300e_coco',
           'yolov5_s-v61_syncbn_fast_8xb16-300e_coco.txt'),
    'P6':
    ('models/hub/yolov5s6.yaml', 'yolov5_s-p6-v62_syncbn_fast_8xb16-300e_coco',
     'yolov5_s-p6-v62_syncbn_fast_8xb16-300e_coco.txt'),
}
INPUT_SIZE = 640


def _load_tool() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location('yolov5_to_yolokit', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool() -> types.ModuleType:
    return _load_tool()


@pytest.fixture(scope='module')
def official():
    """``(yolov5.models.yolo, yolov5.utils.general)`` of the pip package."""
    if importlib.util.find_spec('yolov5') is None:
        pytest.skip('reference package "yolov5" is not installed (see '
                    'requirements/reference-nodeps.txt)')
    saved_path = list(sys.path)
    with pytest.MonkeyPatch.context() as mp:
        # Stubbed even when ultralytics is installed: its import resolves
        # public DNS names to test for a connection.
        if 'ultralytics.utils.checks' not in sys.modules:
            stub = types.ModuleType('ultralytics.utils.checks')
            stub.check_requirements = lambda *args, **kwargs: True
            for name in ('ultralytics', 'ultralytics.utils'):
                mp.setitem(sys.modules, name, types.ModuleType(name))
            mp.setitem(sys.modules, 'ultralytics.utils.checks', stub)
        with warnings.catch_warnings():
            # its utils import the deprecated pkg_resources
            warnings.simplefilter('ignore', DeprecationWarning)
            import yolov5.models.yolo as yolo
            import yolov5.utils.general as general
    # yolov5.models.yolo appends its own root to sys.path at import time,
    # which would make its ``models``/``utils`` importable as top-level
    # packages for the rest of the session.
    sys.path[:] = saved_path
    return yolo, general


def _build_official(yolo, arch: str) -> torch.nn.Module:
    """The official model built from the package's bundled yaml."""
    import yolov5
    cfg = osp.join(osp.dirname(yolov5.__file__), ARCHS[arch][0])
    return yolo.DetectionModel(cfg, ch=3, nc=80).eval()


def _randomized_official(yolo,
                         arch: str,
                         calib: torch.Tensor,
                         seed: int = 0) -> torch.nn.Module:
    """Official model with random, non-trivial weights and BN statistics.

    Fresh BNs (weight 1, bias 0, mean 0, var 1) would hide a swap of two
    same-shaped BN layers, so every tensor is drawn at random; the BN running
    statistics are then measured on ``calib`` so that activations stay O(1)
    through the depth and the detections are not all saturated.
    """
    model = _build_official(yolo, arch)
    gen = torch.Generator().manual_seed(seed)
    detect = model.model[-1]
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                std = module.weight[0].numel()**-0.5
                if any(module is m for m in detect.m):
                    # logits spread by ~1 around the official prior bias
                    std *= 0.5
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=gen) * std)
                if module.bias is not None:
                    module.bias.add_(
                        torch.randn(module.bias.shape, generator=gen) * 0.5)
        for bn in bns:
            n = bn.num_features
            bn.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=gen))
            bn.bias.copy_(0.2 * torch.randn(n, generator=gen))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batches
        model.train()
        model(calib)
        for bn in bns:
            bn.momentum = 0.03
    return model.eval()


def _build_yolokit(repo_root: str, arch: str) -> torch.nn.Module:
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs', 'yolov5', ARCHS[arch][1] + '.py'))
    return MODELS.build(cfg.model).eval()


def _official_module_aliases() -> Dict[str, types.ModuleType]:
    """The package's modules under the names an official clone has."""
    import yolov5.models
    import yolov5.models.common
    import yolov5.models.yolo
    return {
        'models': yolov5.models,
        'models.common': yolov5.models.common,
        'models.yolo': yolov5.models.yolo,
    }


def _save_with_official_names(model: torch.nn.Module, path: str,
                              mp: pytest.MonkeyPatch) -> None:
    """``torch.save({'model': model})`` as the official repo writes it.

    Official checkpoints name their classes ``models.yolo.*`` and
    ``models.common.*`` (the repo root is on ``sys.path`` there), not
    ``yolov5.models.*``. Pickle records ``cls.__module__`` after checking
    that ``sys.modules[cls.__module__]`` holds the class, so the package's
    modules are exposed under the official names while saving.
    """
    for name, module in _official_module_aliases().items():
        mp.setitem(sys.modules, name, module)
    for module in model.modules():
        cls = type(module)
        if cls.__module__.startswith('yolov5.models.'):
            mp.setattr(cls, '__module__', cls.__module__[len('yolov5.'):])
    torch.save({'model': model, 'ema': None, 'epoch': -1}, path)


def _pickled_globals(path: str) -> set:
    """Module names of the classes referenced by a torch zip checkpoint."""
    with zipfile.ZipFile(path) as zf:
        data_name = next(n for n in zf.namelist() if n.endswith('data.pkl'))
        data = zf.read(data_name)
    names, strings = set(), []
    for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
        if opcode.name in ('SHORT_BINUNICODE', 'BINUNICODE'):
            strings.append(arg)
        elif opcode.name == 'STACK_GLOBAL':
            names.add(strings[-2])
        elif opcode.name == 'GLOBAL':
            names.add(arg.split(' ')[0])
    return names


def _letterbox(img: np.ndarray,
               size: int) -> Tuple[np.ndarray, Tuple[float, float], list]:
    """Keep-ratio resize + centred 114-padding to ``size x size``."""
    h, w = img.shape[:2]
    ratio = min(size / h, size / w)
    new_w, new_h = int(round(w * ratio)), int(round(h * ratio))
    resized = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out = np.full((size, size, 3), 114, dtype=np.uint8)
    out[top:top + new_h, left:left + new_w] = resized
    pad_param = [top, size - new_h - top, left, size - new_w - left]
    return out, (new_w / w, new_h / h), pad_param


def _photo_input(images_dir: str) -> Tuple[torch.Tensor, dict]:
    img = cv2.imread(osp.join(images_dir, 'dog.jpg'))
    assert img is not None, 'shared photo dog.jpg is unreadable'
    boxed, scale_factor, pad_param = _letterbox(img, INPUT_SIZE)
    rgb = boxed[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255.
    meta = dict(
        ori_shape=img.shape[:2],
        img_shape=(INPUT_SIZE, INPUT_SIZE),
        batch_input_shape=(INPUT_SIZE, INPUT_SIZE),
        scale_factor=scale_factor,
        pad_param=np.array(pad_param, dtype=np.float32))
    return torch.from_numpy(np.ascontiguousarray(rgb))[None], meta


def _yolokit_raw_maps(outputs, num_classes: int) -> List[torch.Tensor]:
    """yolokit head outputs in the official ``(B, na, H, W, 5 + nc)``."""
    maps = []
    for cls_score, bbox_pred, objectness in zip(*outputs):
        b, _, h, w = cls_score.shape
        bbox = bbox_pred.view(b, -1, 4, h, w)
        obj = objectness.view(b, -1, 1, h, w)
        cls = cls_score.view(b, -1, num_classes, h, w)
        maps.append(torch.cat([bbox, obj, cls], 2).permute(0, 1, 3, 4, 2))
    return maps


def _sorted_dets(boxes: torch.Tensor, scores: torch.Tensor,
                 labels: torch.Tensor) -> torch.Tensor:
    dets = torch.cat([boxes, scores[:, None], labels[:, None].float()], 1)
    order = np.lexsort((dets[:, 5].numpy(), -dets[:, 4].numpy()))
    return dets[torch.from_numpy(order)]


# ---------------------------------------------------------------------------
# mapping rules (fast, no reference package needed)
# ---------------------------------------------------------------------------
def test_layer_mapping_follows_official_layout(tool):
    p5 = tool.build_layer_mapping('P5')
    # official yolov5s.yaml (v6.0+): 0 stem, 1..8 stages, 9 SPPF, 10 conv,
    # 11 up, 12 cat, 13 C3, 14 conv, 15 up, 16 cat, 17 C3, 18 conv, 19 cat,
    # 20 C3, 21 conv, 22 cat, 23 C3, 24 Detect
    assert p5[0] == ('backbone.stem', 'conv')
    assert p5[8] == ('backbone.stage4.1', 'c3')
    assert p5[9] == ('backbone.stage4.2', 'sppf')
    assert p5[10] == ('neck.reduce_layers.2', 'conv')
    assert p5[13] == ('neck.top_down_layers.0.0', 'c3')
    assert p5[14] == ('neck.top_down_layers.0.1', 'conv')
    assert p5[17] == ('neck.top_down_layers.1', 'c3')
    assert p5[21] == ('neck.downsample_layers.1', 'conv')
    assert p5[23] == ('neck.bottom_up_layers.1', 'c3')
    assert p5[24] == ('bbox_head.head_module.convs_pred', 'detect')
    # parameter-free Upsample/Concat layers
    assert not {11, 12, 15, 16, 19, 22} & set(p5)
    assert max(p5) == 24

    p6 = tool.build_layer_mapping('P6')
    # official yolov5s6.yaml: 11 SPPF, 12 conv, 15/16, 19/20, 23 top-down,
    # 24/26, 27/29, 30/32 bottom-up, 33 Detect
    assert p6[10] == ('backbone.stage5.1', 'c3')
    assert p6[11] == ('backbone.stage5.2', 'sppf')
    assert p6[12] == ('neck.reduce_layers.3', 'conv')
    assert p6[19] == ('neck.top_down_layers.1.0', 'c3')
    assert p6[20] == ('neck.top_down_layers.1.1', 'conv')
    assert p6[23] == ('neck.top_down_layers.2', 'c3')
    assert p6[30] == ('neck.downsample_layers.2', 'conv')
    assert p6[32] == ('neck.bottom_up_layers.2', 'c3')
    assert p6[33] == ('bbox_head.head_module.convs_pred', 'detect')
    assert max(p6) == 33


def test_convert_renames_submodules_and_drops_anchors(tool):
    half = torch.ones(2, dtype=torch.float16)
    src = {
        'model.2.cv1.conv.weight': half,
        'model.2.cv2.bn.running_var': half,
        'model.2.cv3.conv.weight': half,
        'model.2.m.1.cv2.bn.num_batches_tracked': torch.tensor(7),
        'model.9.cv2.conv.weight': half,
        'model.24.m.2.bias': half,
        'model.24.anchors': half,
        'model.24.anchor_grid': half,
    }
    out = tool.convert(src, arch='P5')
    assert list(out) == [
        'backbone.stage1.1.main_conv.conv.weight',
        'backbone.stage1.1.short_conv.bn.running_var',
        'backbone.stage1.1.final_conv.conv.weight',
        'backbone.stage1.1.blocks.1.conv2.bn.num_batches_tracked',
        'backbone.stage4.2.conv2.conv.weight',
        'bbox_head.head_module.convs_pred.2.bias',
    ]
    assert out['backbone.stage4.2.conv2.conv.weight'].dtype == torch.float32
    assert out[
        'backbone.stage1.1.blocks.1.conv2.bn.num_batches_tracked'].dtype == torch.int64
    kept = tool.convert(src, arch='P5', to_float=False)
    assert kept['bbox_head.head_module.convs_pred.2.bias'].dtype == \
        torch.float16


def test_convert_rejects_foreign_keys(tool):
    with pytest.raises(ValueError, match='model.11.cv1.conv.weight'):
        # 11 is an Upsample in P5
        tool.convert({'model.11.cv1.conv.weight': torch.zeros(1)}, 'P5')
    with pytest.raises(ValueError, match='backbone.stem.conv.weight'):
        tool.convert({'backbone.stem.conv.weight': torch.zeros(1)}, 'P5')
    with pytest.raises(ValueError, match='arch must be one of'):
        tool.build_layer_mapping('P7')
    with pytest.raises(ValueError, match='Cannot infer'):
        tool.convert({'model.30.m.0.weight': torch.zeros(1)})
    # pre-v6.0 checkpoints start with a Focus layer (conv wrapped in Conv)
    with pytest.raises(ValueError, match='Focus stem'):
        tool.convert({'model.0.conv.conv.weight': torch.zeros(1)}, 'P5')
    # a C3 child that is not a Conv's parameter
    with pytest.raises(ValueError, match='model.2.cv1.conv.bias'):
        tool.convert({'model.2.cv1.conv.bias': torch.zeros(1)}, 'P5')


def test_convert_accepts_data_parallel_prefix(tool):
    out = tool.convert({'module.model.0.conv.weight': torch.zeros(1)}, 'P5')
    assert list(out) == ['backbone.stem.conv.weight']


# ---------------------------------------------------------------------------
# against the official architecture
# ---------------------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.parametrize('arch', ['P5', 'P6'])
def test_keys_match_mmyolo_module_tree(official, tool, module_trees_dir, arch):
    yolo, _ = official
    model = _build_official(yolo, arch)
    converted = tool.convert(model.state_dict())
    expected: Dict[str, str] = {}
    tree = osp.join(module_trees_dir, 'yolov5', ARCHS[arch][2])
    with open(tree, encoding='utf-8') as f:
        for line in f:
            kind, _, rest = line.rstrip('\n').partition(' ')
            if kind == 'param':
                key, _, shape = rest.partition(' ')
                expected[key] = shape
    got = {k: str(tuple(v.shape)) for k, v in converted.items()}
    assert set(got) == set(expected), (
        f'missing {sorted(set(expected) - set(got))[:5]}, '
        f'unexpected {sorted(set(got) - set(expected))[:5]}')
    assert got == expected


@pytest.mark.e2e
@pytest.mark.parametrize('arch', ['P5', 'P6'])
def test_converted_official_checkpoint_matches_official_outputs(
        official, tool, repo_root, images_dir, tmp_path, arch):
    yolo, general = official
    inputs, meta = _photo_input(images_dir)
    model = _randomized_official(yolo, arch, calib=inputs)

    # Official checkpoints are half-precision pickles of the model object
    # whose classes are named models.yolo.* / models.common.*.
    src = str(tmp_path / f'yolov5s_{arch}.pt')
    with pytest.MonkeyPatch.context() as mp:
        _save_with_official_names(model.half(), src, mp)
    pickled = _pickled_globals(src)
    assert {'models.yolo', 'models.common'} <= pickled
    assert not any(name.startswith('yolov5') for name in pickled)
    # the reference runs on the same (half-rounded) weights in float32
    model.float()

    # in-process: the yolov5 import needs the ultralytics stub above
    dst = str(tmp_path / f'yolokit_yolov5s_{arch}.pth')
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, 'argv', ['tool', '--src', src, '--dst', dst])
        tool.main()
    # loaded the way `load_from` does
    yolokit_model = _build_yolokit(repo_root, arch)
    ckpt = load_checkpoint(yolokit_model, dst, map_location='cpu', strict=True)
    assert list(ckpt) == ['state_dict']

    # same priors: official anchors are stored in grid units per level
    detect = model.model[-1]
    official_anchors = (detect.anchors * detect.stride.view(-1, 1, 1)).tolist()
    assert official_anchors == [[
        list(a) for a in level
    ] for level in yolokit_model.bbox_head.prior_generator.base_sizes]

    with torch.no_grad():
        official_decoded, official_maps = model(inputs.clone())
        outputs = yolokit_model(inputs.clone(), mode='tensor')
    yolokit_maps = _yolokit_raw_maps(outputs, num_classes=80)

    num_levels = 3 if arch == 'P5' else 4
    assert len(official_maps) == len(yolokit_maps) == num_levels
    max_diff = 0.
    for ref, got in zip(official_maps, yolokit_maps):
        assert got.shape == ref.shape
        max_diff = max(max_diff, (got - ref).abs().max().item())
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
    print(f'\n[{arch}] max |raw head map diff| = {max_diff:.3e}')

    # Detections: yolokit's predict with the config's test_cfg (MMYOLO's
    # multi-label, score 0.001, IoU 0.65, 300 per image) vs the official
    # decoded output through the official NMS with the same settings.
    test_cfg = yolokit_model.bbox_head.test_cfg
    assert (test_cfg.multi_label, test_cfg.score_thr, test_cfg.nms.type,
            test_cfg.nms.iou_threshold, test_cfg.max_per_img) == \
        (True, 0.001, 'nms', 0.65, 300)
    sample = DetDataSample(metainfo=meta)
    with torch.no_grad():
        result = yolokit_model.predict(inputs.clone(), [sample])[0]
    pred = result.pred_instances
    ref = general.non_max_suppression(
        official_decoded,
        conf_thres=test_cfg.score_thr,
        iou_thres=test_cfg.nms.iou_threshold,
        multi_label=True,
        max_det=test_cfg.max_per_img)[0]
    # the same rescale as yolokit's: remove the padding, undo the resize,
    # clip to the original image
    top, left = float(meta['pad_param'][0]), float(meta['pad_param'][2])
    ref_boxes = ref[:, :4] - torch.tensor([left, top, left, top])
    ref_boxes /= torch.tensor(meta['scale_factor']).repeat(2)
    ref_boxes[:, 0::2].clamp_(0, meta['ori_shape'][1])
    ref_boxes[:, 1::2].clamp_(0, meta['ori_shape'][0])

    assert len(ref) >= 10, 'the check needs detections to compare'
    assert len(pred) == len(ref)
    got_dets = _sorted_dets(pred.bboxes, pred.scores, pred.labels)
    ref_dets = _sorted_dets(ref_boxes, ref[:, 4], ref[:, 5].long())
    box_diff = (got_dets[:, :4] - ref_dets[:, :4]).abs().max().item()
    print(f'[{arch}] {len(ref)} detections, max |box diff| = '
          f'{box_diff:.3e} px')
    torch.testing.assert_close(got_dets[:, 5], ref_dets[:, 5])
    torch.testing.assert_close(
        got_dets[:, 4], ref_dets[:, 4], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        got_dets[:, :4], ref_dets[:, :4], rtol=1e-4, atol=1e-2)


@pytest.mark.e2e
def test_cli_converts_plain_state_dict_without_yolov5_package(
        official, repo_root, tmp_path):
    yolo, _ = official
    model = _randomized_official(
        yolo, 'P5', calib=torch.rand(2, 3, 128, 128), seed=1)
    src = str(tmp_path / 'yolov5s_state_dict.pt')
    torch.save(model.half().state_dict(), src)
    dst = str(tmp_path / 'converted.pth')
    with pytest.MonkeyPatch.context() as mp:
        # a None entry in sys.modules makes any "import yolov5..." fail
        mp.setitem(sys.modules, 'yolov5', None)
        mp.setattr(sys, 'argv', ['tool', '--src', src, '--dst', dst])
        _load_tool().main()
    state_dict = torch.load(dst, weights_only=True)['state_dict']
    yolokit_model = _build_yolokit(repo_root, 'P5')
    yolokit_model.load_state_dict(state_dict, strict=True)
    # half -> float32 is exact, so the weights must be bit-identical
    expected = model.float().model[0].conv.weight
    assert yolokit_model.backbone.stem.conv.weight.dtype == torch.float32
    torch.testing.assert_close(
        yolokit_model.backbone.stem.conv.weight, expected, rtol=0, atol=0)


@pytest.mark.e2e
def test_official_pickle_without_yolov5_package(official, tool, tmp_path):
    """Without the pip package the pickled names are kept, as needed inside
    an official clone; without either, the error says what to do."""
    yolo, _ = official
    model = _build_official(yolo, 'P5')
    src = str(tmp_path / 'yolov5s.pt')
    with pytest.MonkeyPatch.context() as mp:
        _save_with_official_names(model, src, mp)
    expected = model.state_dict()
    aliases = _official_module_aliases()

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, 'yolov5', None)
        # an official clone on sys.path: top-level ``models`` package
        for name, module in aliases.items():
            mp.setitem(sys.modules, name, module)
        state_dict = tool.load_official_checkpoint(src)
    assert list(state_dict) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state_dict[key], value), key

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, 'yolov5', None)
        mp.setitem(sys.modules, 'models', None)
        with pytest.raises(
                ImportError,
                match=r'models\.yolo\.DetectionModel'
                r'.*clone of the official YOLOv5 repository'):
            tool.load_official_checkpoint(src)
