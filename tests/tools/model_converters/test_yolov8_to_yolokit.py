"""tools/model_converters/yolov8_to_yolokit.py against the Ultralytics
package (the reference implementation of YOLOv8).

The Ultralytics models are built from the package's own ``yolov8n.yaml`` /
``yolov8s.yaml`` with random weights (no downloads). To make the comparison
meaningful, every BatchNorm gets random affine parameters and running
statistics calibrated on the shared photos (so a swapped or missing tensor
shows up in the outputs), and the class logits are spread so that the
boxes above the score threshold have distinct scores, as a trained model's
do. Both models then see the same letterboxed photo.
"""
import copy
import importlib.util
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from yolokit.registry import MODELS, TRANSFORMS

pytestmark = pytest.mark.e2e

tasks = pytest.importorskip('ultralytics.nn.tasks')
ultralytics_nms = pytest.importorskip('ultralytics.utils.nms')

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                  'yolov8_to_yolokit.py')
PHOTOS = ('demo.jpg', 'dog.jpg', 'large_image.jpg')


def _load_converter():
    spec = importlib.util.spec_from_file_location('yolov8_to_yolokit', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_converter()


def _ultralytics_model(size: str, images_dir: str):
    torch.manual_seed(0)
    model = tasks.DetectionModel(f'yolov8{size}.yaml', verbose=False)
    g = torch.Generator().manual_seed(1)
    calib = []
    for name in PHOTOS:
        img = cv2.resize(cv2.imread(osp.join(images_dir, name)), (320, 256))
        calib.append(
            torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1).float() /
            255)
    calib = torch.stack(calib)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.uniform_(-0.5, 0.5, generator=g)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration
        model.train()
        model(calib)
        for bn in bns:
            bn.momentum = 0.03
        model.eval()
        detect = model.model[-1]
        logits = {}
        hooks = [
            branch[-1].register_forward_hook(
                lambda m, i, o, k=k: logits.__setitem__(k, o))
            for k, branch in enumerate(detect.cv3)
        ]
        model(calib)
        for hook in hooks:
            hook.remove()
        for k, branch in enumerate(detect.cv3):
            spread = (logits[k] - branch[-1].bias[None, :, None, None]).std()
            branch[-1].weight.mul_(0.7 / spread)
            branch[-1].bias.fill_(-5.0)
    return model


def _yolokit_model(size: str):
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'yolov8',
                 f'yolov8_{size}_syncbn_fast_8xb16-500e_coco.py'))
    return cfg, MODELS.build(cfg.model)


def _photo_input(cfg, model, images_dir):
    """dog.jpg (576 x 768) through the config's test pipeline at 640 x 480,
    which letterboxes it without padding (uniform padding would give many
    priors identical scores and make NMS order-dependent)."""
    steps = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    for step in steps:
        if 'scale' in step:
            step['scale'] = (640, 480)
    results = dict(
        img_path=osp.join(images_dir, 'dog.jpg'), img_id=0, instances=[])
    for step in steps:
        results = TRANSFORMS.build(step)(results)
    return model.data_preprocessor(pseudo_collate([results]), False)


@pytest.mark.parametrize('size', ['n', 's'])
def test_converted_model_matches_ultralytics(size, images_dir):
    reference = _ultralytics_model(size, images_dir)
    cfg, model = _yolokit_model(size)
    state_dict = converter.convert(reference.state_dict())
    model.load_state_dict(state_dict, strict=True)
    model.eval()

    data = _photo_input(cfg, model, images_dir)
    inputs = data['inputs']
    assert inputs.shape == (1, 3, 480, 640)
    with torch.no_grad():
        decoded, raw = reference(inputs)
        feats = model.extract_feat(inputs)
        cls_scores, bbox_preds = model.bbox_head(feats)
        head = model.bbox_head.head_module
        dist_logits = [head.reg_preds[i](f) for i, f in enumerate(feats)]

    # raw per-level outputs: class logits and box distributions
    sizes = [f.shape[2] * f.shape[3] for f in feats]
    ref_scores = raw['scores'].split(sizes, dim=2)
    ref_dists = raw['boxes'].split(sizes, dim=2)
    for i in range(3):
        torch.testing.assert_close(
            cls_scores[i].flatten(2), ref_scores[i], rtol=0, atol=1e-5)
        torch.testing.assert_close(
            dist_logits[i].flatten(2), ref_dists[i], rtol=0, atol=1e-5)
    # decoded distances (stride units): softmax-expectation vs DFL conv
    ref_dist = reference.model[-1].dfl(raw['boxes'])
    ours_dist = torch.cat([b.flatten(2) for b in bbox_preds], dim=2)
    torch.testing.assert_close(ours_dist, ref_dist, rtol=0, atol=1e-4)

    # final boxes: same score / NMS thresholds, multi-label, 300 boxes max
    thr = float(decoded[0, 4:].flatten().topk(300).values[-1])
    test_cfg = dict(
        multi_label=True,
        nms_pre=30000,
        score_thr=thr,
        nms=dict(type='nms', iou_threshold=0.7),
        max_per_img=300)
    with torch.no_grad():
        ours, = model.bbox_head.predict_by_feat(
            cls_scores,
            bbox_preds,
            batch_img_metas=[s.metainfo for s in data['data_samples']],
            cfg=test_cfg,
            rescale=False)
        theirs, = ultralytics_nms.non_max_suppression(
            decoded,
            conf_thres=thr,
            iou_thres=0.7,
            multi_label=True,
            max_det=300)
    assert len(ours) > 20
    assert len(ours) == len(theirs)
    ours_order = ours.scores.argsort(descending=True)
    their_order = theirs[:, 4].argsort(descending=True)
    their_boxes = theirs[their_order, :4].clone()
    # yolokit clamps the kept boxes to the image, Ultralytics' NMS does not
    their_boxes[:, 0::2].clamp_(0, inputs.shape[3])
    their_boxes[:, 1::2].clamp_(0, inputs.shape[2])
    torch.testing.assert_close(
        ours.bboxes[ours_order], their_boxes, rtol=0, atol=1e-3)
    torch.testing.assert_close(
        ours.scores[ours_order], theirs[their_order, 4], rtol=0, atol=1e-5)
    assert torch.equal(ours.labels[ours_order], theirs[their_order, 5].long())


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


def test_checkpoint_files_and_cli(tmp_path):
    reference = tasks.DetectionModel('yolov8n.yaml', nc=3, verbose=False)
    # an Ultralytics-style checkpoint: pickled half-precision model objects
    pickled = tmp_path / 'yolov8n_nc3.pt'
    torch.save(
        dict(model=copy.deepcopy(reference).half(), ema=None, epoch=-1),
        pickled)
    plain = tmp_path / 'plain.pth'
    torch.save(reference.state_dict(), plain)

    from_pickle = converter.convert(
        converter.load_ultralytics_checkpoint(str(pickled)))
    from_plain = converter.convert(
        converter.load_ultralytics_checkpoint(str(plain)))
    assert from_pickle.keys() == from_plain.keys()
    for key, value in from_pickle.items():
        assert value.dtype == from_plain[key].dtype
        if value.is_floating_point():
            torch.testing.assert_close(value, from_plain[key].half().float())

    dst = tmp_path / 'converted.pth'
    subprocess.run(
        [sys.executable, SCRIPT, '--src',
         str(plain), '--dst',
         str(dst)],
        check=True,
        cwd=REPO_ROOT)
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'yolov8',
                 'yolov8_n_syncbn_fast_8xb16-500e_coco.py'))
    cfg.model.bbox_head.head_module.num_classes = 3
    model = MODELS.build(cfg.model)
    model.load_state_dict(saved['state_dict'], strict=True)


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
