"""tools/model_converters/yolov5u_to_yolokit.py against the Ultralytics
package, the reference implementation of YOLOv5u.

Ultralytics builds ``yolov5nu`` / ``yolov5su`` from its own yaml (no
download); the ``ultralytics_reference`` fixture (conftest.py) gives them
telling random weights, and ``assert_matches_ultralytics`` compares raw
outputs and boxes after NMS on a letterboxed photo with the converted model
of ``configs/yolov5/yolov5u``. The key-mapping tests need no photo.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from yolokit.registry import MODELS

pytestmark = pytest.mark.e2e

tasks = pytest.importorskip('ultralytics.nn.tasks')

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                  'yolov5u_to_yolokit.py')


def _load_converter():
    spec = importlib.util.spec_from_file_location('yolov5u_to_yolokit', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_converter()


def _config(size: str, num_classes: int = 80) -> Config:
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'yolov5', 'yolov5u',
                 f'yolov5u_{size}_syncbn_fast_8xb16-300e_coco.py'))
    cfg.model.bbox_head.head_module.num_classes = num_classes
    return cfg


@pytest.fixture(scope='module')
def yolov5nu_state_dict():
    return tasks.DetectionModel('yolov5nu.yaml', verbose=False).state_dict()


@pytest.mark.parametrize('size', ['n', 's'])
def test_converted_model_matches_ultralytics(size, images_dir,
                                             ultralytics_reference,
                                             assert_matches_ultralytics):
    reference = ultralytics_reference(f'yolov5{size}u.yaml')
    # the reference really is YOLOv5u: C3 blocks and the YOLOv8 Detect
    layer_types = [type(m).__name__ for m in reference.model]
    assert layer_types.count('C3') == 8 and layer_types[-1] == 'Detect'
    assert hasattr(reference.model[-1], 'dfl')
    cfg = _config(size)
    model = MODELS.build(cfg.model)
    model.load_state_dict(
        converter.convert(reference.state_dict()), strict=True)
    assert_matches_ultralytics(reference, cfg, model, images_dir)


def test_layer_mapping_follows_the_yolov5u_layout(yolov5nu_state_dict):
    reference = tasks.DetectionModel('yolov5nu.yaml', verbose=False)
    mapping = converter.build_layer_mapping()
    # every layer with parameters is mapped, by its Ultralytics type
    kinds = {'Conv': 'conv', 'C3': 'c3', 'SPPF': 'sppf', 'Detect': 'detect'}
    with_params = [
        i for i, m in enumerate(reference.model)
        if any(True for _ in m.parameters())
    ]
    assert sorted(mapping) == with_params
    for index in with_params:
        expected = kinds[type(reference.model[index]).__name__]
        assert mapping[index][1] == expected, index
    # positions from yolov5.yaml: 9 SPPF, 10 the 1x1 conv before the first
    # upsample, 13/17 the top-down C3s, 18/21 the stride-2 convs, 24 Detect
    assert mapping[0] == ('backbone.stem', 'conv')
    assert mapping[8] == ('backbone.stage4.1', 'c3')
    assert mapping[9] == ('backbone.stage4.2', 'sppf')
    assert mapping[10] == ('neck.reduce_layers.2', 'conv')
    assert mapping[13] == ('neck.top_down_layers.0.0', 'c3')
    assert mapping[14] == ('neck.top_down_layers.0.1', 'conv')
    assert mapping[17] == ('neck.top_down_layers.1', 'c3')
    assert mapping[18] == ('neck.downsample_layers.0', 'conv')
    assert mapping[23] == ('neck.bottom_up_layers.1', 'c3')
    assert mapping[24] == ('bbox_head.head_module', 'detect')

    converted = converter.convert(yolov5nu_state_dict)
    # every tensor but the fixed DFL projection is carried over, unchanged
    assert len(converted) == len(yolov5nu_state_dict) - 1
    pairs = {
        'model.2.cv2.conv.weight':
        'backbone.stage1.1.short_conv.conv.weight',
        'model.2.m.0.cv2.bn.running_var':
        'backbone.stage1.1.blocks.0.conv2.bn.running_var',
        'model.9.cv2.conv.weight':
        'backbone.stage4.2.conv2.conv.weight',
        'model.20.cv3.bn.bias':
        'neck.bottom_up_layers.0.final_conv.bn.bias',
        'model.24.cv2.0.2.weight':
        'bbox_head.head_module.reg_preds.0.2.weight',
        'model.24.cv3.2.1.bn.running_mean':
        'bbox_head.head_module.cls_preds.2.1.bn.running_mean',
    }
    for theirs, ours in pairs.items():
        assert torch.equal(converted[ours], yolov5nu_state_dict[theirs])


def test_converted_keys_are_mmyolo_layout(yolov5nu_state_dict, module_trees):
    """The keys and shapes are those MMYOLO 0.6.0's yolov5u_n model has."""
    from yolokit.testing.module_tree import tree_differences
    model = MODELS.build(_config('n').model)
    model.load_state_dict(converter.convert(yolov5nu_state_dict), strict=True)
    tree = module_trees['yolov5/yolov5u/yolov5u_n_syncbn_fast_8xb16-300e_coco']
    assert not tree_differences(model, tree)


def test_checkpoint_files_and_cli(tmp_path, assert_checkpoint_files_convert):
    reference = tasks.DetectionModel('yolov5nu.yaml', nc=3, verbose=False)
    model = MODELS.build(_config('n', num_classes=3).model)
    assert_checkpoint_files_convert(converter, SCRIPT, reference, model,
                                    tmp_path)


def test_rejects_other_layouts(yolov5nu_state_dict):
    # a missing layer
    broken = {
        k: v
        for k, v in yolov5nu_state_dict.items()
        if not k.startswith('model.13.')
    }
    with pytest.raises(ValueError, match=r'without parameters.*\[13\]'):
        converter.convert(broken)
    # a learned (not arange) DFL projection
    odd = dict(yolov5nu_state_dict)
    odd['model.24.dfl.conv.weight'] = torch.ones(1, 16, 1, 1)
    with pytest.raises(ValueError, match='arange'):
        converter.convert(odd)
    # the look-alike layouts name their own converter
    yolov8 = tasks.DetectionModel('yolov8n.yaml', verbose=False).state_dict()
    with pytest.raises(ValueError, match='yolov8_to_yolokit.py'):
        converter.convert(yolov8)
    anchor_based = {
        k: v
        for k, v in yolov5nu_state_dict.items()
        if not k.startswith('model.24.')
    }
    anchor_based['model.24.m.0.weight'] = torch.zeros(255, 64, 1, 1)
    with pytest.raises(ValueError, match='yolov5_to_yolokit.py'):
        converter.convert(anchor_based)
    with pytest.raises(ValueError, match='YOLOv5u P5 detection layout'):
        converter.convert({'backbone.stem.conv.weight': torch.zeros(1)})
