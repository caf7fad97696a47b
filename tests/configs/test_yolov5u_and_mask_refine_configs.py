"""The YOLOv5u and YOLOv5 mask-refine configs: MMYOLO's values, a loss and
a predict step, and mask-refined boxes on a real sample.

``tests/configs/test_yolov5_configs.py`` already builds every config under
``configs/yolov5`` (these included) and checks it against its module tree.
This file adds what is specific to the two folders:

* every config resolves to the same dict as MMYOLO 0.6.0's config of the
  same name (``mmyolo`` read as ``yolokit``): the configs carry MMYOLO's
  values, not look-alikes;
* the n model of each kind runs a loss step on the config's own loading
  steps and a predict step on its test pipeline;
* the mask-refine training pipelines, built as the config says on the
  shared tiny COCO sample, give the boxes of the instance polygon (worked
  out by hand below), not those of the box annotation.
"""
import copy
import glob
import os.path as osp
from typing import Any, List

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import FUNCTIONS

from yolokit.registry import DATASETS, HOOKS, MODELS, TRANSFORMS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'yolov5')
NEW_CONFIGS = sorted(
    osp.relpath(p, CONFIG_DIR) for folder in ('yolov5u', 'mask_refine')
    for p in glob.glob(osp.join(CONFIG_DIR, folder, '*.py')))

YOLOV5U_N = 'yolov5u/yolov5u_n_syncbn_fast_8xb16-300e_coco.py'
YOLOV5U_N_REFINE = (
    'yolov5u/yolov5u_n_mask-refine_syncbn_fast_8xb16-300e_coco.py')
YOLOV5_N_REFINE = (
    'mask_refine/yolov5_n_mask-refine-v61_syncbn_fast_8xb16-300e_coco.py')
N_CONFIGS = [YOLOV5U_N, YOLOV5U_N_REFINE, YOLOV5_N_REFINE]


def _load(rel_path: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, rel_path))


def test_both_folders_are_complete():
    names = [osp.basename(p) for p in NEW_CONFIGS]
    for size in 'nsmlx':
        assert f'yolov5u_{size}_syncbn_fast_8xb16-300e_coco.py' in names
        assert (f'yolov5u_{size}_mask-refine_syncbn_fast_8xb16-300e_coco.py'
                in names)
        assert (f'yolov5_{size}_mask-refine-v61_syncbn_fast_8xb16-300e_coco'
                '.py' in names)
    assert len(NEW_CONFIGS) == 15


# ------------------------------------------------- MMYOLO's config values


def _as_yolokit(value: Any) -> Any:
    """A config value with MMYOLO's scope name read as yolokit's."""
    if isinstance(value, dict):
        return {k: _as_yolokit(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_yolokit(v) for v in value]
    if isinstance(value, str):
        return value.replace('mmyolo', 'yolokit')
    return value


def _differences(ours: Any, ref: Any, path: str = '') -> List[str]:
    if isinstance(ours, dict) and isinstance(ref, dict):
        found = [f'{path}.{k}: only in yolokit' for k in ours if k not in ref]
        found += [f'{path}.{k}: only in MMYOLO' for k in ref if k not in ours]
        for key in ours.keys() & ref.keys():
            found += _differences(ours[key], ref[key], f'{path}.{key}')
        return found
    if isinstance(ours, list) and isinstance(ref,
                                             list) and len(ours) == len(ref):
        found = []
        for i, (a, b) in enumerate(zip(ours, ref)):
            found += _differences(a, b, f'{path}[{i}]')
        return found
    return [] if ours == ref else [f'{path}: yolokit {ours!r}, MMYOLO {ref!r}']


@pytest.fixture(scope='module')
def mmyolo_config_dir(mmyolo_reference):
    root = osp.join(
        osp.dirname(mmyolo_reference.package.__file__), '.mim', 'configs',
        'yolov5')
    if not osp.isdir(root):
        pytest.skip(f'MMYOLO 0.6.0 configs not found in {root}')
    return root


@pytest.mark.parametrize('rel_path', NEW_CONFIGS)
def test_config_equals_mmyolo(rel_path, mmyolo_config_dir):
    """The whole resolved config (model, pipelines, hooks, schedule,
    runtime) is MMYOLO's, down to the inherited runtime defaults."""
    ref = Config.fromfile(osp.join(mmyolo_config_dir, rel_path)).to_dict()
    ours = _load(rel_path).to_dict()
    assert ours['default_scope'] == 'yolokit'
    problems = _differences(_as_yolokit(ours), _as_yolokit(ref))
    assert not problems, f'{rel_path}:\n' + '\n'.join(problems[:20])


def test_metafile_matches_mmyolo(mmyolo_config_dir):
    """The mask-refine entries carry MMYOLO's checkpoints and results.
    MMYOLO published no YOLOv5u weights (its README leaves them empty),
    so YOLOv5u has no entry: its weights come from the converter."""
    from mmengine.fileio import load
    ref = {
        m['Name']: m
        for m in load(osp.join(mmyolo_config_dir, 'metafile.yml'))['Models']
    }
    ours = load(osp.join(CONFIG_DIR, 'metafile.yml'))['Models']
    refine = [m for m in ours if 'mask-refine' in m['Name']]
    assert len(refine) == 5
    for model in refine:
        expected = ref[model['Name']]
        assert model['Weights'] == expected['Weights']
        assert model['Config'] == expected['Config']
        assert model['Results'] == expected['Results']
        assert (model['Metadata']['Training Memory (GB)'] ==
                expected['Metadata']['Training Memory (GB)'])
    assert not [m for m in ours if m['Name'].startswith('yolov5u')]


def test_switch_pipelines_build():
    """The stage-2 pipelines that PipelineSwitchHook swaps in (the other
    pipelines are built by test_yolov5_configs.py)."""
    for rel_path in NEW_CONFIGS:
        cfg = _load(rel_path)
        for hook in cfg.custom_hooks:
            HOOKS.get(hook.type)
            for step in hook.get('switch_pipeline', []):
                TRANSFORMS.build(step)


# ------------------------------------------------- loss and predict steps

# The box annotations are deliberately looser than the polygons: with mask
# refinement the boxes must come from the polygons.
_INSTANCES = [
    dict(
        bbox=[4., 6., 70., 80.],
        bbox_label=0,
        ignore_flag=0,
        mask=[[10., 12., 60., 12., 60., 70., 10., 70.]]),
    dict(
        bbox=[66., 16., 124., 66.],
        bbox_label=1,
        ignore_flag=0,
        mask=[[70., 20., 120., 40., 95., 60.]]),
]
# x and y extremes of each polygon
_POLYGON_BOXES = [[10., 12., 60., 70.], [70., 20., 120., 60.]]


def _packed_sample(cfg: Config, seed: int) -> dict:
    """A 128 x 128 synthetic image through the config's own annotation
    loading, mask removal and packing steps (the mosaic and affine steps
    need a dataset and a 640 px canvas)."""
    rng = np.random.default_rng(seed)
    results = dict(
        img=rng.integers(0, 256, (128, 128, 3), dtype=np.uint8),
        img_shape=(128, 128),
        ori_shape=(128, 128),
        img_id=seed,
        img_path='synthetic.jpg',
        flip=False,
        flip_direction=None,
        instances=copy.deepcopy(_INSTANCES))
    steps = [cfg.pre_transform[1]]
    steps += [
        s for s in cfg.train_dataloader.dataset.pipeline
        if s.type == 'RemoveDataElement'
    ]
    steps.append(cfg.train_dataloader.dataset.pipeline[-1])  # pack
    for step in steps:
        results = TRANSFORMS.build(step)(results)
    return results


@pytest.mark.parametrize('rel_path', N_CONFIGS)
def test_loss_step(rel_path):
    cfg = _load(rel_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    batch = [_packed_sample(cfg, seed) for seed in range(2)]
    gt = batch[0]['data_samples'].gt_instances
    assert 'masks' not in gt
    expected = _POLYGON_BOXES if 'mask-refine' in rel_path else [
        i['bbox'] for i in _INSTANCES
    ]
    boxes = gt.bboxes
    boxes = boxes.tensor if hasattr(boxes, 'tensor') else boxes
    assert boxes.tolist() == expected

    collate = FUNCTIONS.get(cfg.train_dataloader.collate_fn.type)
    data = model.data_preprocessor(collate(batch), True)
    assert data['inputs'].shape == (2, 3, 128, 128)
    losses = model(**data, mode='loss')
    anchor_free = cfg.model.bbox_head.type == 'YOLOv8Head'
    assert set(losses) == ({'loss_cls', 'loss_bbox', 'loss_dfl'} if anchor_free
                           else {'loss_cls', 'loss_obj', 'loss_bbox'})
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), key
    # both images have matched boxes, so the box loss is positive
    assert losses['loss_bbox'] > 0
    sum(losses.values()).backward()
    grads = [
        p.grad for p in model.bbox_head.head_module.parameters()
        if p.grad is not None
    ]
    assert grads and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize('rel_path', [YOLOV5U_N, YOLOV5_N_REFINE])
def test_predict_step_with_test_pipeline(rel_path, predict_on_synthetic_image):
    cfg = _load(rel_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    sample = predict_on_synthetic_image(cfg, model)
    pred = sample.pred_instances
    assert ((pred.labels >= 0) & (pred.labels < 80)).all()
    # YOLOv5u validates with batch shapes, but one image alone is
    # letterboxed to 640 x 640: 200 x 150 scaled by 3.2, 80 px top padding
    assert sample.scale_factor == pytest.approx((3.2, 3.2))
    assert sample.pad_param.tolist() == [80., 80., 0., 0.]


# --------------------------------- mask refinement on the tiny COCO sample

# coco_sample_color.json: four 512 x 288 (w x h) images, all color.jpg.
# Only image 0 has an instance with a polygon that survives loading: its
# box annotation is [0, 0, 20, 20] (x, y, w, h), its polygon the square
# (0, 0)-(10, 10). Its crowd instance is ignored, and the instances of the
# other images have no polygon, so LoadAnnotations(with_mask=True) drops
# them.
_SAMPLE_ANN = 'coco_sample_color.json'


def _sample_dataset(shared_data_dir: str, cfg: Config, pipeline):
    samples = osp.join(shared_data_dir, 'samples')
    if not osp.isfile(osp.join(samples, _SAMPLE_ANN)):
        pytest.skip(f'{_SAMPLE_ANN} not found in {samples}')
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.update(
        data_root=samples,
        ann_file=_SAMPLE_ANN,
        data_prefix=dict(img=''),
        pipeline=pipeline)
    return DATASETS.build(dataset_cfg)


def test_refined_boxes_through_stage2_pipeline(shared_data_dir):
    """yolov5u_s mask-refine, stage 2 (resize, letterbox, affine, flip) on
    image 0 of the sample. The expected box is worked out from the polygon:

    * YOLOv5KeepRatioResize to 640: ratio min(640 / 512, 640 / 288) = 1.25,
      so the image is 640 x 360 and the square (0, 0)-(12, 12): the json
      stores the polygon as integers, and mmdet's PolygonMasks keeps their
      dtype, so 10 x 1.25 = 12.5 is truncated to 12 (as in MMYOLO). The
      box annotation, resized as a float box, would end at 12.5;
    * LetterResize to 640 x 640: no more scaling, (640 - 360) / 2 = 140 px
      padding on top, so (0, 140)-(12, 152);
    * YOLOv5RandomAffine without rotation and shear maps a point p to
      s * (p - 320) + t, for the scale s and translation t it draws (read
      here from the drawn matrix);
    * RandomFlip, if it flips, maps x to 640 - x.

    From the box annotation instead the side would be 2 x 12.5 x s.
    """
    cfg = _load('yolov5u/yolov5u_s_mask-refine_syncbn_fast_8xb16-300e_coco.py')
    stage2 = cfg.custom_hooks[1].switch_pipeline
    dataset = _sample_dataset(shared_data_dir, cfg, stage2)
    affine = next(
        t for t in dataset.pipeline.transforms
        if type(t).__name__ == 'YOLOv5RandomAffine')
    draws = []
    draw_matrix = affine._get_random_homography_matrix

    def recording_draw(height, width):
        matrix, scale = draw_matrix(height, width)
        draws.append((matrix.copy(), scale))
        return matrix, scale

    affine._get_random_homography_matrix = recording_draw

    checked_inside = checked_outside = 0
    for seed in range(12):
        np.random.seed(seed)
        draws.clear()
        sample = dataset[0]
        (matrix, scale), = draws
        # no rotation and shear: a pure scale plus translation
        assert matrix[0, 1] == pytest.approx(0) and matrix[1, 0] == 0
        tx, ty = matrix[0, 2], matrix[1, 2]
        x1, x2 = scale * (0 - 320) + tx, scale * (12 - 320) + tx
        y1, y2 = scale * (140 - 320) + ty, scale * (152 - 320) + ty
        if sample['data_samples'].flip:
            x1, x2 = 640 - x2, 640 - x1
        boxes = sample['data_samples'].gt_instances.bboxes.tensor
        if 0 <= x1 and x2 <= 640 and 0 <= y1 and y2 <= 640:
            assert boxes.shape == (1, 4)
            torch.testing.assert_close(
                boxes[0],
                torch.tensor([x1, y1, x2, y2], dtype=torch.float32),
                rtol=0,
                atol=1e-3)
            # not the warped box annotation, whose side is 2 * 12.5 * s
            side = float(boxes[0, 2] - boxes[0, 0])
            assert side == pytest.approx(12 * scale, abs=1e-3)
            assert side < 12.5 * scale - 0.1
            checked_inside += 1
        elif x2 <= 0 or x1 >= 640 or y2 <= 0 or y1 >= 640:
            assert len(boxes) == 0  # warped out of the image
            checked_outside += 1
    assert checked_inside >= 3, (checked_inside, checked_outside)


@pytest.mark.parametrize('rel_path', [
    'yolov5u/yolov5u_n_mask-refine_syncbn_fast_8xb16-300e_coco.py',
    'mask_refine/yolov5_l_mask-refine-v61_syncbn_fast_8xb16-300e_coco.py',
])
def test_full_train_pipeline_runs_on_the_sample(rel_path, shared_data_dir):
    """The stage-1 pipeline as configured (Mosaic, for l also copy-paste and
    MixUp, then the affine step) on the real sample: every packed sample
    is 640 x 640 without masks, and the one polygon instance, wherever the
    mosaic put it, keeps its square shape (no rotation or shear) unless
    the image border cut it."""
    cfg = _load(rel_path)
    dataset = _sample_dataset(shared_data_dir, cfg,
                              cfg.train_dataloader.dataset.pipeline)
    types = [type(t).__name__ for t in dataset.pipeline.transforms]
    assert types[1] == 'LoadAnnotations' and 'RemoveDataElement' in types
    num_square = 0
    for seed in range(8):
        np.random.seed(seed)
        sample = dataset[seed % len(dataset)]
        assert tuple(sample['inputs'].shape) == (3, 640, 640)
        gt = sample['data_samples'].gt_instances
        assert 'masks' not in gt
        boxes = gt.bboxes.tensor
        assert (boxes >= 0).all() and (boxes <= 640).all()
        inside = (boxes[:, :2] > 1).all(1) & (boxes[:, 2:] < 639).all(1)
        for box in boxes[inside]:
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            assert w == pytest.approx(h, rel=1e-3), box
            num_square += 1
    assert num_square > 0
