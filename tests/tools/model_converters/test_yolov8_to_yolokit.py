"""tools/model_converters/yolov8_to_yolokit.py against the Ultralytics
package (the reference implementation of YOLOv8).

The Ultralytics models are built from the package's own ``yolov8n.yaml`` /
``yolov8s.yaml`` with random weights (no downloads), made telling by the
``ultralytics_reference`` fixture (conftest.py: random BatchNorm statistics
calibrated on the shared photos, spread class logits); both models then
see the same letterboxed photo (``assert_matches_ultralytics``).
"""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from yolokit.registry import MODELS

pytestmark = pytest.mark.e2e

tasks = pytest.importorskip('ultralytics.nn.tasks')

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                  'yolov8_to_yolokit.py')


def _load_converter():
    spec = importlib.util.spec_from_file_location('yolov8_to_yolokit', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_converter()


def _yolokit_model(size: str):
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'yolov8',
                 f'yolov8_{size}_syncbn_fast_8xb16-500e_coco.py'))
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('size', ['n', 's'])
def test_converted_model_matches_ultralytics(size, images_dir,
                                             ultralytics_reference,
                                             assert_matches_ultralytics):
    reference = ultralytics_reference(f'yolov8{size}.yaml')
    cfg, model = _yolokit_model(size)
    model.load_state_dict(
        converter.convert(reference.state_dict()), strict=True)
    assert_matches_ultralytics(reference, cfg, model, images_dir)


def test_layer_mapping_follows_the_yolov8_layout():
    reference = tasks.DetectionModel('yolov8n.yaml', verbose=False)
    by_layer = {}
    for key in reference.state_dict():
        _, index, rest = key.split('.', 2)
        by_layer.setdefault(int(index), []).append(rest)
    kinds = {i: converter.layer_kind(keys) for i, keys in by_layer.items()}
    # the layer types Ultralytics built from yolov8.yaml
    for index, kind in kinds.items():
        expected = type(reference.model[index]).__name__.lower()
        assert kind == expected, (index, kind, expected)
    mapping = converter.build_layer_mapping(kinds)
    assert mapping[0] == ('backbone.stem', 'conv')
    assert mapping[8] == ('backbone.stage4.1', 'c2f')
    assert mapping[9] == ('backbone.stage4.2', 'sppf')
    assert mapping[12] == ('neck.top_down_layers.0', 'c2f')
    assert mapping[15] == ('neck.top_down_layers.1', 'c2f')
    assert mapping[16] == ('neck.downsample_layers.0', 'conv')
    assert mapping[21] == ('neck.bottom_up_layers.1', 'c2f')
    assert mapping[22] == ('bbox_head.head_module', 'detect')
    converted = converter.convert(reference.state_dict())
    # every tensor but the fixed DFL projection is carried over
    assert len(converted) == len(reference.state_dict()) - 1
    assert 'bbox_head.head_module.reg_preds.0.2.weight' in converted
    assert 'bbox_head.head_module.cls_preds.2.1.bn.running_var' in converted
    assert 'backbone.stage1.1.blocks.0.conv2.bn.weight' in converted
    assert 'neck.bottom_up_layers.0.final_conv.conv.weight' in converted


def test_checkpoint_files_and_cli(tmp_path, assert_checkpoint_files_convert):
    reference = tasks.DetectionModel('yolov8n.yaml', nc=3, verbose=False)
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'yolov8',
                 'yolov8_n_syncbn_fast_8xb16-500e_coco.py'))
    cfg.model.bbox_head.head_module.num_classes = 3
    assert_checkpoint_files_convert(converter, SCRIPT, reference,
                                    MODELS.build(cfg.model), tmp_path)


def test_rejects_other_layouts():
    state_dict = tasks.DetectionModel(
        'yolov8n.yaml', verbose=False).state_dict()
    broken = {
        k: v
        for k, v in state_dict.items() if not k.startswith('model.12.')
    }
    with pytest.raises(ValueError, match='YOLOv8 P5 detection layout'):
        converter.convert(broken)
    with pytest.raises(ValueError, match='model.<index>'):
        converter.convert({'backbone.stem.conv.weight': torch.zeros(1)})
    odd = dict(state_dict)
    odd['model.22.dfl.conv.weight'] = torch.ones(1, 16, 1, 1)
    with pytest.raises(ValueError, match='arange'):
        converter.convert(odd)
    # YOLO11 (C3k2 blocks, depthwise class branches) is not YOLOv8
    yolo11 = tasks.DetectionModel('yolo11n.yaml', verbose=False).state_dict()
    with pytest.raises(ValueError):
        converter.convert(yolo11)


def test_plain_state_dict_needs_no_ultralytics(tmp_path):
    """A plain state_dict loads with weights_only=True (no unpickling)."""
    path = tmp_path / 'plain.pth'
    torch.save({'state_dict': {'model.0.conv.weight': torch.ones(1)}}, path)
    state_dict = converter.load_ultralytics_checkpoint(str(path))
    assert list(state_dict) == ['model.0.conv.weight']
    np.testing.assert_array_equal(state_dict['model.0.conv.weight'].numpy(),
                                  [1.])
