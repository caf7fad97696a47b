"""The shipped PP-YOLOE configs load, build MMYOLO's exact model and run.

Every ``configs/ppyoloe/*.py`` is discovered by glob. References:

- the spec's ``module_trees/ppyoloe/<name>.txt`` (shipped with the tests as
  ``tests/data/module_trees.json.gz``): module tree and state_dict layout of
  the model MMYOLO v0.6.0 builds from the config of the same name;
- MMYOLO 0.6.0's own config files (``<venv>/reference/mmyolo-0.6.0``): the
  merged yolokit config must be the same dict, scope aside;
- MMYOLO's ``configs/ppyoloe/metafile.yml`` for the documented results.
"""
import glob
import os.path as osp
import random
from typing import Dict

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import FUNCTIONS

from yolokit.registry import MODELS, TRANSFORMS
from yolokit.testing.config_components import check_config_components
from yolokit.testing.module_tree import tree_differences

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'ppyoloe')
CONFIG_FILES = sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))
MMYOLO_CONFIG_DIR = osp.join(REPO_ROOT, '.venv', 'reference', 'mmyolo-0.6.0',
                             'mmyolo', '.mim', 'configs', 'ppyoloe')

# Configs allowed to have no module tree, each with the reason: none, MMYOLO
# v0.6.0 shipped all of them.
CONFIGS_WITHOUT_TREE: Dict[str, str] = {}

# deepen, widen (MMYOLO's configs; the same for PP-YOLOE and PP-YOLOE+)
SIZES = {
    's': (0.33, 0.5),
    'm': (0.67, 0.75),
    'l': (1.0, 1.0),
    'x': (1.33, 1.25)
}


def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_all_configs_are_there(module_trees):
    trees = [rel + '.py' for rel in module_trees.names('ppyoloe')]
    assert len(CONFIG_FILES) == 10
    assert trees == sorted(set(CONFIG_FILES) - set(CONFIGS_WITHOUT_TREE))


@pytest.mark.parametrize('name', CONFIG_FILES)
def test_same_dict_as_mmyolo(name):
    path = osp.join(MMYOLO_CONFIG_DIR, name)
    if not osp.exists(path):
        pytest.skip(f'MMYOLO 0.6.0 config {path} not found (see the '
                    '`mmyolo_reference` fixture in tests/conftest.py)')
    ours, theirs = _load(name).to_dict(), Config.fromfile(path).to_dict()
    assert ours.pop('default_scope') == 'yolokit'
    assert theirs.pop('default_scope') == 'mmyolo'
    assert ours == theirs


@pytest.fixture(scope='module', params=CONFIG_FILES)
def built(request):
    name = request.param
    cfg = _load(name)
    # the PP-YOLOE (not "+") backbones would download their ImageNet
    # weights in init_weights; the tests need no trained weights
    cfg.model.backbone.pop('init_cfg', None)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    yield name, cfg, model
    del model


def test_model_matches_module_tree(built, module_trees):
    name, cfg, model = built
    assert cfg.default_scope == 'yolokit'
    tree = 'ppyoloe/' + osp.splitext(name)[0]
    assert tree in module_trees, f'{name}: no module tree {tree!r}'
    problems = tree_differences(model, module_trees[tree])
    assert not problems, f'{name}:\n' + '\n'.join(problems)


def _fast_batch(num_classes: int):
    """Two 96 x 96 images (already normalised) in the fast dict layout of
    ``yolov5_collate`` + the data preprocessor's training output."""
    inputs = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    rows = torch.tensor([[0, 0, 8., 10., 60., 70.],
                         [1, num_classes - 1, 20., 16., 90., 80.]])
    return inputs, dict(
        bboxes_labels=rows,
        img_metas=[dict(batch_input_shape=(96, 96))] * 2)


@pytest.mark.parametrize('phase', ['warm-up', 'aligned'])
def test_loss_step(built, phase):
    """One loss step per config and assignment phase: finite, positive
    terms, and gradients reach the prediction convs."""
    name, cfg, model = built
    hub = MessageHub.get_current_instance()
    previous = hub.get_info('epoch')
    hub.update_info(
        'epoch', 0 if phase == 'warm-up' else cfg.model.train_cfg.initial_epoch)
    model.train()
    model.zero_grad()
    try:
        inputs, samples = _fast_batch(cfg.model.bbox_head.head_module.num_classes)
        losses = model(inputs, samples, mode='loss')
    finally:
        hub.update_info('epoch', previous)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), key
        assert value > 0, f'{name}: {key} is 0'
    sum(losses.values()).backward()
    module = model.bbox_head.head_module
    # every class conv sees the Varifocal loss of all priors; a level's
    # regression conv only the positives on that level (others get zeros)
    assert all(c.weight.grad.abs().sum() > 0 for c in module.cls_preds)
    assert all(c.weight.grad is not None for c in module.reg_preds)
    assert any(c.weight.grad.abs().sum() > 0 for c in module.reg_preds)


def test_predict_step(built):
    """One predict step per config on a 64 x 96 input: boxes inside the
    original image, at most 300, labels in range."""
    name, cfg, model = built
    num_classes = cfg.model.bbox_head.head_module.num_classes
    model.eval()
    meta = dict(
        img_shape=(64, 96),
        ori_shape=(128, 144),
        scale_factor=(96 / 144, 64 / 128),
        batch_input_shape=(64, 96))
    # a low threshold: the freshly initialised head scores about 0.01
    model.bbox_head.test_cfg['score_thr'] = 0.0
    image = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        cls, box = model(image, mode='tensor')
        sample, = model(image, [DetDataSample(metainfo=meta)], mode='predict')
    for stride, c, b in zip((8, 16, 32), cls, box):
        assert c.shape == (1, num_classes, 64 // stride, 96 // stride)
        # expected distance over bins 0..16
        assert b.shape == (1, 4, 64 // stride, 96 // stride)
        assert b.min() >= 0 and b.max() <= 16
    pred = sample.pred_instances
    assert 0 < len(pred) <= 300
    assert pred.bboxes[:, 0::2].min() >= 0
    assert pred.bboxes[:, 0::2].max() <= 144
    assert pred.bboxes[:, 1::2].min() >= 0
    assert pred.bboxes[:, 1::2].max() <= 128
    assert ((pred.labels >= 0) & (pred.labels < num_classes)).all()


# ------------------------------------------------ documented values


def test_primitive_config_values():
    cfg = _load('ppyoloe_plus_s_fast_8xb8-80e_coco.py')
    model = cfg.model
    assert model.test_cfg == dict(
        multi_label=True,
        nms_pre=1000,
        score_thr=0.01,
        nms=dict(type='nms', iou_threshold=0.7),
        max_per_img=300)
    assert model.train_cfg.initial_epoch == 30
    assert model.train_cfg.initial_assigner.topk == 9
    tal = model.train_cfg.assigner
    assert (tal.topk, tal.alpha, tal.beta) == (13, 1, 6)
    head = model.bbox_head
    assert head.loss_dfl.loss_weight == pytest.approx(0.125)
    assert head.head_module.reg_max == 16
    pre = model.data_preprocessor
    assert pre.type == 'PPYOLOEDetDataPreprocessor'
    assert (pre.mean, pre.std) == ([0., 0., 0.], [255., 255., 255.])
    assert pre.batch_augments[0].random_size_range == (320, 800)
    assert model.backbone.block_cfg.use_alpha is True
    assert cfg.train_dataloader.collate_fn == dict(
        type='yolov5_collate', use_ms_training=True)
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
        'LoadImageFromFile', 'LoadAnnotations', 'PPYOLOERandomDistort',
        'mmdet.Expand', 'PPYOLOERandomCrop', 'mmdet.RandomFlip',
        'mmdet.PackDetInputs'
    ]
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert (resize.type, resize.keep_ratio, resize.interpolation) == (
        'mmdet.FixShapeResize', False, 'bicubic')
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.momentum, optimizer.weight_decay,
            optimizer.nesterov) == (0.001, 0.9, 5e-4, False)
    scheduler = cfg.default_hooks.param_scheduler
    assert scheduler.type == 'PPYOLOEParamSchedulerHook'
    assert scheduler.total_epochs == 96  # int(80 * 1.2)
    assert cfg.param_scheduler is None
    ema, = cfg.custom_hooks
    assert (ema.ema_type, ema.momentum) == ('ExpMomentumEMA', 0.0002)
    assert cfg.train_cfg.max_epochs == 80
    assert 'tta_model' in cfg and 'tta_pipeline' in cfg


@pytest.mark.parametrize('size', list(SIZES))
def test_size_variants(size):
    deepen, widen = SIZES[size]
    plus = _load(f'ppyoloe_plus_{size}_fast_8xb8-80e_coco.py')
    batch = {'s': 32, 'm': 28, 'l': 20, 'x': 16}[size]
    plain = _load(f'ppyoloe_{size}_fast_8xb{batch}-300e_coco.py')
    for cfg in (plus, plain):
        model = cfg.model
        assert model.backbone.deepen_factor == deepen
        assert model.backbone.widen_factor == widen
        assert model.neck.deepen_factor == deepen
        assert model.neck.widen_factor == widen
        assert model.bbox_head.head_module.widen_factor == widen
    # PP-YOLOE+: Objects365 detector weights; PP-YOLOE: ImageNet backbone,
    # no alpha, ImageNet normalisation, 10x the learning rate
    assert 'obj365' in plus.load_from or 'ojb365' in plus.load_from
    assert plain.load_from is None
    assert plain.model.backbone.init_cfg.type == 'Pretrained'
    assert f'cspresnet_{size}_imagenet1k' in \
        plain.model.backbone.init_cfg.checkpoint
    assert plain.model.backbone.block_cfg.use_alpha is False
    assert plain.model.data_preprocessor.mean == pytest.approx(
        [123.675, 116.28, 103.53])
    assert plain.optim_wrapper.optimizer.lr == 0.01
    assert plain.model.train_cfg.initial_epoch == 100
    assert plain.train_cfg.max_epochs == 300
    assert plain.train_dataloader.batch_size == batch


def test_400e_and_cat_configs():
    long = _load('ppyoloe_s_fast_8xb32-400e_coco.py')
    assert long.train_cfg.max_epochs == 400
    assert long.model.train_cfg.initial_epoch == 133
    assert long.default_hooks.param_scheduler.total_epochs == 480
    cat = _load('ppyoloe_plus_s_fast_1xb12-40e_cat.py')
    assert cat.model.bbox_head.head_module.num_classes == 1
    assert cat.model.train_cfg.initial_assigner.num_classes == 1
    assert cat.model.train_cfg.assigner.num_classes == 1
    assert cat.model.backbone.frozen_stages == 4
    assert cat.train_dataloader.batch_size == 12
    assert cat.train_cfg.max_epochs == 40
    # the config's second default_hooks assignment drops its warmup
    # override, so the base schedule stays (as in MMYOLO's file)
    assert cat.default_hooks.param_scheduler.warmup_min_iter == 1000
    assert cat.default_hooks.param_scheduler.total_epochs == 96


# ----------------------------------------- data pipeline and registry names


@pytest.mark.parametrize('name', CONFIG_FILES)
def test_components_are_registered(name):
    check_config_components(_load(name))


def _synthetic_sample(pipeline_cfg, h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    results = dict(
        img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        img_shape=(h, w),
        ori_shape=(h, w),
        img_id=seed,
        img_path='synthetic.jpg',
        instances=[
            dict(bbox=[10., 12., 60., 70.], bbox_label=0, ignore_flag=0),
            dict(bbox=[70., 20., 120., 60.], bbox_label=0, ignore_flag=0)
        ])
    for step in pipeline_cfg:
        if step.type != 'LoadImageFromFile':
            results = TRANSFORMS.build(step)(results)
    return results


def test_train_pipeline_collate_preprocessor_loss():
    """The primitive config end to end on synthetic images: its training
    transforms, yolov5_collate(use_ms_training), the multi-scale
    preprocessor (range cut to 64-160 px for speed), then the loss."""
    cfg = _load('ppyoloe_plus_s_fast_8xb8-80e_coco.py')
    cfg.model.data_preprocessor.batch_augments[0].random_size_range = (64,
                                                                       160)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    batch = [
        _synthetic_sample(cfg.train_dataloader.dataset.pipeline, seed=i)
        for i in range(2)
    ]
    collate = FUNCTIONS.get(cfg.train_dataloader.collate_fn.type)
    MessageHub.get_current_instance().update_info('iter', 0)
    data = model.data_preprocessor(
        collate(batch, use_ms_training=True), True)
    side = data['inputs'].shape[-1]
    assert data['inputs'].shape == (2, 3, side, side)
    assert side % 32 == 0 and 64 <= side <= 160
    # std 255 scales to [0, 1] (bicubic resizes may overshoot a little)
    assert data['inputs'].mean().item() == pytest.approx(0.5, abs=0.1)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_cls'] > 0


def test_predict_with_test_pipeline(predict_on_synthetic_image):
    cfg = _load('ppyoloe_plus_s_fast_8xb8-80e_coco.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    # FixShapeResize stretches to img_scale (640 x 640), no padding: the
    # fixture checks the input shape, the rescaled boxes and max_per_img
    assert tuple(cfg.img_scale) == (640, 640)
    predict_on_synthetic_image(cfg, model)


def test_metafile():
    """The entries are MMYOLO's PP-YOLOE+ results (its metafile), each
    naming an existing config and an upstream checkpoint."""
    from mmengine.fileio import load
    meta = load(osp.join(CONFIG_DIR, 'metafile.yml'))
    expected = {'s': (43.5, 4.7), 'm': (49.5, 8.4), 'l': (52.6, 13.2),
                'x': (54.2, 19.1)}
    models = meta['Models']
    assert len(models) == 4
    for model in models:
        name = model['Name']
        size = name.split('_')[2]
        assert name == f'ppyoloe_plus_{size}_fast_8xb8-80e_coco'
        assert model['In Collection'] == 'PPYOLOE'
        assert model['Config'] == f'configs/ppyoloe/{name}.py'
        assert osp.basename(model['Config']) in CONFIG_FILES
        assert model['Weights'].startswith(
            f'https://download.openmmlab.com/mmyolo/v0/ppyoloe/{name}/{name}_')
        assert 'upstream' in model['Metadata']['Results Source']
        box_ap, memory = expected[size]
        assert model['Results'][0]['Metrics']['box AP'] == box_ap
        assert model['Metadata']['Training Memory (GB)'] == memory
