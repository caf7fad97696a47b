"""The shipped RTMDet configs load, build MMYOLO's exact model and run.

Every ``configs/rtmdet/**/*.py`` is discovered by glob. Three kinds:

* detection configs (``rtmdet_*.py``): built and compared with the spec's
  ``module_trees/rtmdet/<name>.txt`` (shipped with the tests as
  ``tests/data/module_trees.json.gz``: module tree and state_dict layout of
  the model MMYOLO v0.6.0 builds from the config of the same name); loss and
  predict steps run on tiny batches;
* ``distillation/kd_*.py``: MMRazor configs. Without MMRazor they must fail
  to load with an ImportError naming it; their content is checked with the
  availability check patched;
* ``cspnext_imagenet_pretrain/*.py``: MMPretrain configs. Without
  MMPretrain they fail with "mmpretrain is not installed"; the CSPNeXt
  backbone they train is built from their model dict and run.

Documented values come from spec 02 §3 (RTMDet recipe) and 01 §9.1.
"""
import ast
import glob
import importlib.machinery
import importlib.util
import math
import os.path as osp
import random

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.registry import FUNCTIONS

from yolokit.testing.module_tree import tree_differences
from yolokit.registry import (DATA_SAMPLERS, DATASETS, HOOKS, METRICS, MODELS,
                              OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                              PARAM_SCHEDULERS, TRANSFORMS)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'rtmdet')
ALL_CONFIGS = sorted(
    osp.relpath(path, CONFIG_DIR)
    for path in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True))
DISTILL_CONFIGS = [c for c in ALL_CONFIGS if c.startswith('distillation')]
PRETRAIN_CONFIGS = [
    c for c in ALL_CONFIGS if c.startswith('cspnext_imagenet_pretrain')
]
DET_CONFIGS = [
    c for c in ALL_CONFIGS
    if c not in DISTILL_CONFIGS and c not in PRETRAIN_CONFIGS
]

# Module trees (below module_trees/rtmdet) without a config here, with the
# reason.
PENDING_TREES = {
    'rtmdet-ins_s_syncbn_fast_8xb32-300e_coco':
    'RTMDet-Ins (instance segmentation) configs: a later task',
}
PENDING_TREE_DIRS = {
    'rotated': 'RTMDet-R (rotated boxes, MMRotate) configs: a later task',
}
TINY = 'rtmdet_tiny_syncbn_fast_8xb32-300e_coco.py'
CAT = 'rtmdet_tiny_fast_1xb12-40e_cat.py'
SIZES = {  # spec 02 §3.2: deepen / widen
    'tiny': (0.167, 0.375),
    's': (0.33, 0.5),
    'm': (0.67, 0.75),
    'l': (1.0, 1.0),
    'x': (1.33, 1.25),
}


def test_configs_were_found():
    assert len(DET_CONFIGS) == 6, DET_CONFIGS
    assert len(DISTILL_CONFIGS) == 4, DISTILL_CONFIGS
    assert len(PRETRAIN_CONFIGS) == 2, PRETRAIN_CONFIGS


def _load(rel_path: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, rel_path))


def _no_download(cfg: Config) -> Config:
    """Drop the ImageNet-pretrained backbone init (it downloads)."""
    cfg.model.backbone.init_cfg = None
    return cfg


# --------------------------------------------------- load, build, compare


@pytest.fixture(scope='module', params=DET_CONFIGS)
def built(request):
    rel_path = request.param
    cfg = _load(rel_path)
    model = MODELS.build(cfg.model)
    yield rel_path, cfg, model
    del model


def test_config_loads_in_yolokit_scope(built):
    _, cfg, model = built
    assert cfg.default_scope == 'yolokit'
    assert type(model).__name__ == 'YOLODetector'
    assert type(model.bbox_head).__name__ == 'RTMDetHead'


def test_model_matches_module_tree(built, module_trees):
    rel_path, _, model = built
    tree = 'rtmdet/' + osp.splitext(rel_path)[0]
    # MMYOLO 0.6.0 shipped every RTMDet detection config here, so each has
    # its tree
    assert tree in module_trees, f'{rel_path}: no module tree {tree!r}'
    problems = tree_differences(model, module_trees[tree])
    assert not problems, f'{rel_path}:\n' + '\n'.join(problems)


def test_tensor_forward(built):
    # Every model runs, x too: on this 64 px input it takes ~0.1 s on one
    # thread, less than its build.
    rel_path, cfg, model = built
    num_classes = cfg.model.bbox_head.head_module.num_classes
    model.eval()
    with torch.no_grad():
        cls_scores, bbox_preds = model(torch.rand(1, 3, 64, 64), mode='tensor')
    for stride, cls, bbox in zip([8, 16, 32], cls_scores, bbox_preds):
        side = 64 // stride
        assert cls.shape == (1, num_classes, side, side)
        assert bbox.shape == (1, 4, side, side)


def test_every_module_tree_has_a_config(module_trees):
    trees = module_trees.names('rtmdet')
    pending = tuple(folder + '/' for folder in PENDING_TREE_DIRS)
    configs = [
        name + '.py' for name in trees
        if name not in PENDING_TREES and not name.startswith(pending)
    ]
    missing = [c for c in configs if c not in DET_CONFIGS]
    assert not missing, f'configs/rtmdet lacks {missing}'
    # an exemption outlives its reason once the config exists
    for name in PENDING_TREES:
        assert name in trees and name + '.py' not in ALL_CONFIGS, name
    for folder in PENDING_TREE_DIRS:
        assert any(t.startswith(folder + '/') for t in trees), folder
        assert not any(c.startswith(folder + '/') for c in ALL_CONFIGS), (
            f'configs/rtmdet/{folder} exists now: remove it from '
            'PENDING_TREE_DIRS')


# ----------------------------------------------- values documented by spec


def test_l_config_recipe_values():
    cfg = _load('rtmdet_l_syncbn_fast_8xb32-300e_coco.py')
    model = cfg.model
    assert model.data_preprocessor == dict(
        type='YOLOv5DetDataPreprocessor',
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False)
    assert (model.backbone.type, model.backbone.arch,
            model.backbone.expand_ratio,
            model.backbone.channel_attention) == ('CSPNeXt', 'P5', 0.5, True)
    assert (model.neck.type, model.neck.in_channels, model.neck.out_channels,
            model.neck.num_csp_blocks,
            model.neck.expand_ratio) == ('CSPNeXtPAFPN', [256, 512, 1024], 256,
                                         3, 0.5)
    head = model.bbox_head
    assert (head.head_module.stacked_convs, head.head_module.share_conv,
            head.head_module.pred_kernel_size) == (2, True, 1)
    assert head.prior_generator == dict(
        type='mmdet.MlvlPointGenerator', offset=0, strides=[8, 16, 32])
    assert head.loss_cls == dict(
        type='mmdet.QualityFocalLoss',
        use_sigmoid=True,
        beta=2.0,
        loss_weight=1.0)
    assert head.loss_bbox == dict(type='mmdet.GIoULoss', loss_weight=2.0)
    assert model.train_cfg.assigner.type == 'BatchDynamicSoftLabelAssigner'
    assert model.train_cfg.assigner.topk == 13
    assert model.test_cfg == dict(
        multi_label=True,
        nms_pre=30000,
        score_thr=0.001,
        nms=dict(type='nms', iou_threshold=0.65),
        max_per_img=300)
    # optimisation (spec 02 §3.5)
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=0.004, weight_decay=0.05)
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True)
    assert cfg.param_scheduler[0] == dict(
        type='LinearLR', start_factor=1e-5, by_epoch=False, begin=0, end=1000)
    assert cfg.param_scheduler[1] == dict(
        type='CosineAnnealingLR',
        eta_min=0.004 * 0.05,
        begin=150,
        end=300,
        T_max=150,
        by_epoch=True,
        convert_to_iter_based=True)
    ema, switch = cfg.custom_hooks
    assert (ema.type, ema.ema_type, ema.momentum, ema.priority) == (
        'EMAHook', 'ExpMomentumEMA', 0.0002, 49)
    assert (switch.type, switch.switch_epoch) == ('mmdet.PipelineSwitchHook',
                                                  280)
    assert cfg.train_cfg.dynamic_intervals == [(280, 1)]
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.train_dataloader.collate_fn.type == 'yolov5_collate'
    assert cfg.train_dataloader.dataset.filter_cfg == dict(
        filter_empty_gt=True, min_size=32)
    assert cfg.val_dataloader.batch_size == 32
    assert cfg.val_dataloader.dataset.batch_shapes_cfg.batch_size == 32
    # stage 2 drops Mosaic and MixUp and resizes around img_scale
    stage2 = [t.type for t in switch.switch_pipeline]
    assert 'Mosaic' not in stage2 and 'YOLOv5MixUp' not in stage2
    assert switch.switch_pipeline[2].scale == (640, 640)
    assert 'tta_model' in cfg and 'tta_pipeline' in cfg


@pytest.mark.parametrize('size', list(SIZES))
def test_size_variants(size):
    deepen, widen = SIZES[size]
    cfg = _load(f'rtmdet_{size}_syncbn_fast_8xb32-300e_coco.py')
    model = cfg.model
    assert (model.backbone.deepen_factor,
            model.backbone.widen_factor) == (deepen, widen)
    assert (model.neck.deepen_factor, model.neck.widen_factor) == (deepen,
                                                                   widen)
    assert model.bbox_head.head_module.get('widen_factor', 1.0) == widen
    steps = {t.type: t for t in cfg.train_pipeline}
    mosaic, mixup = steps['Mosaic'], steps['YOLOv5MixUp']
    resize = steps['mmdet.RandomResize']
    # spec 01 §9.1 item 8 / 02 §3.1: jitter and cache sizes per size
    expected = {
        'tiny': ((0.5, 2.0), 20, 10),
        's': ((0.5, 2.0), 40, 20),
    }.get(size, ((0.1, 2.0), 40, 20))
    assert (tuple(resize.ratio_range), mosaic.max_cached_images,
            mixup.max_cached_images) == expected
    assert resize.scale == (1280, 1280)
    assert mosaic.use_cached and mixup.use_cached
    # only tiny pops the oldest entry (FIFO) and mixes half of the images
    fifo = size == 'tiny'
    assert mosaic.get('random_pop', True) is not fifo
    assert mixup.get('random_pop', True) is not fifo
    assert mixup.get('prob', 1.0) == (0.5 if fifo else 1.0)
    switch = cfg.custom_hooks[1]
    assert switch.switch_epoch == 280
    assert tuple(switch.switch_pipeline[2].ratio_range) == expected[0]
    init = model.backbone.get('init_cfg')
    if size in ('tiny', 's'):
        # ImageNet-pretrained CSPNeXt (spec 02 §3.2)
        assert init.type == 'Pretrained' and init.prefix == 'backbone.'
        assert init.checkpoint.endswith(f'cspnext-{size}_imagenet_600e.pth')
    else:
        assert init is None


def test_cat_config_matches_tutorial():
    cfg = _load(CAT)
    assert cfg.model.backbone.frozen_stages == 4
    assert cfg.model.bbox_head.head_module.num_classes == 1
    assert cfg.model.train_cfg.assigner.num_classes == 1
    assert cfg.train_dataloader.batch_size == 12
    assert cfg.train_dataloader.dataset.metainfo.classes == ('cat', )
    assert cfg.custom_hooks[1].switch_epoch == 35  # 40 - 5 stage-2 epochs
    assert cfg.param_scheduler[0].end == 30
    assert (cfg.param_scheduler[1].begin, cfg.param_scheduler[1].end,
            cfg.param_scheduler[1].T_max) == (20, 40, 20)
    assert cfg.train_cfg.max_epochs == 40 and cfg.train_cfg.val_interval == 10
    assert cfg.load_from.endswith(
        'rtmdet_tiny_syncbn_fast_8xb32-300e_coco_20230102_140117-dbb1dc83.pth')
    assert cfg.val_evaluator.ann_file == './data/cat/annotations/test.json'


# ------------------------------------------- registries and data configs


@pytest.mark.parametrize('rel_path', DET_CONFIGS)
def test_data_and_runtime_components_build(rel_path):
    cfg = _load(rel_path)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        DATA_SAMPLERS.get(loader.sampler.type)
        if 'collate_fn' in loader:
            assert FUNCTIONS.get(loader.collate_fn.type) is not None
        DATASETS.get(loader.dataset.type)
        for step in loader.dataset.pipeline:
            TRANSFORMS.build(step)
    for step in cfg.train_pipeline_stage2:
        TRANSFORMS.build(step)
    for step in cfg.tta_pipeline:
        TRANSFORMS.build(step)
    MODELS.get(cfg.tta_model.type)
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        METRICS.get(evaluator.type)
    for hook in list(cfg.default_hooks.values()) + list(cfg.custom_hooks):
        HOOKS.get(hook.type)
        if 'ema_type' in hook:
            MODELS.get(hook.ema_type)
    OPTIM_WRAPPERS.get(cfg.optim_wrapper.type)
    OPTIM_WRAPPER_CONSTRUCTORS.get(
        cfg.optim_wrapper.get('constructor',
                              'DefaultOptimWrapperConstructor'))
    for scheduler in cfg.param_scheduler:
        PARAM_SCHEDULERS.get(scheduler.type)


def test_adamw_has_no_decay_on_norms_and_biases():
    cfg = _no_download(_load(TINY))
    model = MODELS.build(cfg.model)
    # as the runner does: paramwise_cfg goes to the constructor
    optim_wrapper_cfg = cfg.optim_wrapper.to_dict()
    paramwise_cfg = optim_wrapper_cfg.pop('paramwise_cfg')
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='DefaultOptimWrapperConstructor',
            optim_wrapper_cfg=optim_wrapper_cfg,
            paramwise_cfg=paramwise_cfg))
    optim_wrapper = constructor(model)
    assert type(optim_wrapper.optimizer).__name__ == 'AdamW'
    decay_of = {}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            decay_of[id(p)] = group['weight_decay']
    # every parameter once, including the head convs shared across levels
    assert len(decay_of) == len(list(model.parameters()))
    norm_ids = {
        id(p)
        for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
        for p in m.parameters()
    }
    for name, p in model.named_parameters():
        if id(p) in norm_ids or name.endswith('.bias'):
            assert decay_of[id(p)] == 0, name
        else:
            assert decay_of[id(p)] == pytest.approx(0.05), name


def test_flat_cosine_learning_rate():
    """LinearLR warm-up over 1000 iterations from lr * 1e-5, flat until
    epoch 150, cosine to 0.05 * lr at epoch 300 (spec 02 §3.5)."""
    cfg = _load('rtmdet_l_syncbn_fast_8xb32-300e_coco.py')
    base_lr = 0.004
    epoch_length = 10
    param = torch.nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(torch.optim.AdamW([param], lr=base_lr))
    schedulers = [
        PARAM_SCHEDULERS.build(
            s, default_args=dict(optimizer=wrapper, epoch_length=epoch_length))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(300 * epoch_length):
        lrs.append(wrapper.optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    assert lrs[0] == pytest.approx(base_lr * 1e-5)
    # MMEngine's LinearLR reaches the end factor at iteration end - 1 = 999:
    # factor(i) = start + (1 - start) * i / 999
    assert lrs[500] == pytest.approx(base_lr * (1e-5 + (1 - 1e-5) * 500 / 999))
    assert lrs[999] == pytest.approx(base_lr)
    assert all(a < b for a, b in zip(lrs[:999], lrs[1:1000]))
    assert lrs[1499] == pytest.approx(base_lr)  # flat until epoch 150
    eta_min = base_lr * 0.05

    def cosine(epoch):
        return eta_min + (base_lr - eta_min) * (
            1 + math.cos(math.pi * (epoch - 150) / 150)) / 2

    for epoch in (175, 225, 290):
        assert lrs[epoch * epoch_length] == pytest.approx(
            cosine(epoch), rel=1e-4)
    assert lrs[-1] == pytest.approx(eta_min, rel=0.01)


# ------------------------------------------------- cached mixing transforms


def _synthetic_results(index: int, size: int = 40) -> dict:
    return dict(
        img=np.full((size, size, 3), index % 255, dtype=np.uint8),
        img_shape=(size, size),
        ori_shape=(size, size),
        img_id=index,
        img_path=f'{index}.jpg',
        gt_bboxes=HorizontalBoxes(torch.tensor([[2., 2., 20., 30.]])),
        gt_bboxes_labels=np.array([index % 3], dtype=np.int64),
        gt_ignore_flags=np.array([False]))


@pytest.mark.parametrize('step_type, size', [('Mosaic', 20),
                                             ('YOLOv5MixUp', 10)])
def test_tiny_cache_pops_the_oldest_entry(step_type, size):
    """RTMDet-tiny's caches are FIFO (random_pop=False) of the configured
    length (spec 02 §3.1)."""
    cfg = _load(TINY)
    step_cfg = next(t for t in cfg.train_pipeline if t.type == step_type)
    step_cfg = step_cfg.copy()
    step_cfg.pop('prob', None)  # always apply, so every call is cached
    if 'img_scale' in step_cfg:
        step_cfg.img_scale = (64, 64)  # only the cache is under test
    transform = TRANSFORMS.build(step_cfg)
    for i in range(size + 5):
        transform(_synthetic_results(i))
    cached = [r['img_id'] for r in transform.results_cache]
    assert cached == list(range(5, size + 5))


def test_random_pop_keeps_the_cache_length():
    cfg = _load('rtmdet_s_syncbn_fast_8xb32-300e_coco.py')
    step_cfg = next(t for t in cfg.train_pipeline
                    if t.type == 'Mosaic').copy()
    step_cfg.img_scale = (64, 64)
    transform = TRANSFORMS.build(step_cfg)
    np.random.seed(0)
    for i in range(45):
        transform(_synthetic_results(i))
    cached = [r['img_id'] for r in transform.results_cache]
    assert len(cached) == 40
    assert cached != list(range(5, 45))  # not FIFO


def test_cached_mixing_waits_for_five_entries():
    """While the cache holds <= 4 results, Mosaic returns the input image
    unchanged; afterwards it outputs the 2x canvas."""
    step_cfg = next(t for t in _load(TINY).train_pipeline
                    if t.type == 'Mosaic').copy()
    step_cfg.img_scale = (64, 64)
    transform = TRANSFORMS.build(step_cfg)
    shapes = [transform(_synthetic_results(i))['img'].shape[:2]
              for i in range(6)]
    assert shapes[:4] == [(40, 40)] * 4
    assert shapes[4:] == [(128, 128)] * 2


# ----------------------------------------------- loss and predict steps


def _write_image(tmp_path, name: str, hw=(120, 160), seed=0) -> str:
    rng = np.random.default_rng(seed)
    path = str(tmp_path / name)
    cv2.imwrite(path, rng.integers(0, 256, (*hw, 3), dtype=np.uint8))
    return path


def _run_pipeline(pipeline, results):
    for step in pipeline:
        results = step(results)
    return results


@pytest.mark.parametrize('rel_path', [TINY, CAT])
def test_train_pipelines_and_loss_step(rel_path, tmp_path):
    cfg = _no_download(_load(rel_path))
    num_classes = cfg.model.bbox_head.head_module.num_classes
    instances = [
        dict(bbox=[10., 12., 90., 100.], bbox_label=0, ignore_flag=0),
        dict(bbox=[60., 20., 150., 70.], bbox_label=num_classes - 1,
             ignore_flag=0),
    ]
    paths = [_write_image(tmp_path, f'{i}.png', seed=i) for i in range(6)]
    # The random crops draw from the global generators: unseeded, whatever
    # ran before decides whether a crop keeps no box and the pipeline
    # drops the sample (returns None).
    random.seed(0)
    np.random.seed(0)
    stage1 = [TRANSFORMS.build(t) for t in cfg.train_pipeline]
    stage2 = [TRANSFORMS.build(t) for t in cfg.train_pipeline_stage2]
    samples = []
    # Stage 1: the cached Mosaic/MixUp fill their caches, then mix.
    for path in paths:
        sample = _run_pipeline(
            stage1, dict(img_path=path, img_id=0, instances=instances))
        samples.append(sample)
    assert samples[-1]['inputs'].shape == (3, 640, 640)
    # Stage 2: no mixing.
    samples.append(
        _run_pipeline(stage2,
                      dict(img_path=paths[0], img_id=0, instances=instances)))
    assert samples[-1]['inputs'].shape == (3, 640, 640)

    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    collate_cfg = dict(cfg.train_dataloader.collate_fn)
    collate = FUNCTIONS.get(collate_cfg.pop('type'))
    # downscale to keep the step fast; boxes are scaled alike
    batch = collate(samples[-2:], **collate_cfg)
    batch['inputs'] = batch['inputs'][:, :, ::4, ::4].contiguous()
    batch['data_samples']['bboxes_labels'][:, 2:] /= 4
    data = model.data_preprocessor(batch, True)
    assert data['inputs'].shape == (2, 3, 160, 160)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value) and value >= 0, name
    assert losses['loss_bbox'] > 0
    sum(losses.values()).backward()
    grads = [
        p.grad for p in model.bbox_head.head_module.parameters()
        if p.grad is not None
    ]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    if rel_path == CAT:
        # frozen_stages=4: the backbone receives no gradient
        assert all(p.grad is None for p in model.backbone.parameters())


@pytest.mark.parametrize('rel_path', [TINY, CAT])
def test_predict_step_with_test_pipeline(rel_path, tmp_path):
    cfg = _no_download(_load(rel_path))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    ori_h, ori_w = 150, 200
    path = _write_image(tmp_path, 'test.png', hw=(ori_h, ori_w))
    pipeline = [
        TRANSFORMS.build(step) for step in cfg.test_dataloader.dataset.pipeline
    ]
    results = _run_pipeline(
        pipeline,
        dict(
            img_path=path,
            img_id=0,
            instances=[
                dict(bbox=[10., 10., 50., 60.], bbox_label=0, ignore_flag=0)
            ]))
    data = model.data_preprocessor(pseudo_collate([results]), False)
    assert data['inputs'].shape == (1, 3, 640, 640)
    with torch.no_grad():
        sample = model(**data, mode='predict')[0]
    pred = sample.pred_instances
    test_cfg = cfg.model.test_cfg
    # freshly initialised: every score is about sigmoid(prior) = 0.01 > 0.001
    assert 0 < len(pred) <= test_cfg.max_per_img
    assert pred.bboxes.shape == (len(pred), 4)
    assert pred.bboxes[:, 0::2].min() >= 0
    assert pred.bboxes[:, 0::2].max() <= ori_w
    assert pred.bboxes[:, 1::2].max() <= ori_h
    assert (pred.scores >= test_cfg.score_thr).all()
    num_classes = cfg.model.bbox_head.head_module.num_classes
    assert ((pred.labels >= 0) & (pred.labels < num_classes)).all()


# ---------------------------------------------------- distillation configs


def _fake_spec(name):
    return importlib.machinery.ModuleSpec(name, loader=None)


@pytest.mark.parametrize('rel_path', DISTILL_CONFIGS)
def test_distillation_config_needs_mmrazor(rel_path):
    if importlib.util.find_spec('mmrazor') is not None:
        pytest.skip('MMRazor is installed')
    with pytest.raises(ImportError, match='MMRazor') as info:
        _load(rel_path)
    assert 'mim install' in str(info.value)


@pytest.mark.parametrize('rel_path', DISTILL_CONFIGS)
def test_distillation_config_content(rel_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec', lambda name, *args: _fake_spec(name)
        if name == 'mmrazor' else real_find_spec(name, *args))
    cfg = _load(rel_path)
    student, teacher = osp.basename(rel_path).split('_')[1:4:2]
    model = cfg.model
    assert (model._scope_, model.type) == ('mmrazor', 'FpnTeacherDistill')
    assert model.architecture.cfg_path == (
        f'yolokit::rtmdet/rtmdet_{student}_syncbn_fast_8xb32-300e_coco.py')
    assert model.teacher.cfg_path == (
        f'yolokit::rtmdet/rtmdet_{teacher}_syncbn_fast_8xb32-300e_coco.py')
    assert f'rtmdet_{teacher}_syncbn_fast_8xb32-300e_coco' in \
        model.teacher_ckpt
    # the student inherits its own config
    assert cfg.train_dataloader.batch_size == 32
    # connectors map the student's neck outputs to the teacher's channels
    widths = {
        size: int(256 * SIZES[size][1])
        for size in (student, teacher)
    }
    for level in range(3):
        conn_s = model.distiller.connectors[f'fpn{level}_s']
        conn_t = model.distiller.connectors[f'fpn{level}_t']
        assert conn_s.in_channel == widths[student]
        assert conn_s.out_channel == widths[teacher]
        assert conn_t.in_channels == widths[teacher]
        assert model.distiller.student_recorders[f'fpn{level}'].source == \
            f'neck.out_layers.{level}.conv'
    student_model = MODELS.build(
        _no_download(
            _load(f'rtmdet_{student}_syncbn_fast_8xb32-300e_coco.py')).model)
    for level in range(3):
        conv = student_model.neck.out_layers[level].conv
        assert conv.out_channels == widths[student]
    assert [h.type for h in cfg.custom_hooks] == [
        'EMAHook', 'mmdet.PipelineSwitchHook', 'mmrazor.StopDistillHook'
    ]
    assert cfg.custom_hooks[2].stop_epoch == 280


# ------------------------------------------------ ImageNet pretrain configs


@pytest.mark.parametrize('rel_path', PRETRAIN_CONFIGS)
def test_pretrain_config_needs_mmpretrain(rel_path):
    if importlib.util.find_spec('mmpretrain') is not None:
        pytest.skip('MMPretrain is installed')
    with pytest.raises(ImportError, match='mmpretrain is not installed'):
        _load(rel_path)


def _without_external_bases(src_dir: str, dst_dir: str) -> None:
    """Copy the pretrain configs, dropping their ``mmpretrain::`` bases."""
    for path in glob.glob(osp.join(src_dir, '*.py')):
        with open(path, encoding='utf-8') as f:
            source = f.read()
        tree = ast.parse(source)
        keep = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(
                    node.targets[0], ast.Name) and \
                    node.targets[0].id == '_base_' and \
                    'mmpretrain::' in ast.unparse(node.value):
                continue
            keep.append(node)
        tree.body = keep
        with open(osp.join(dst_dir, osp.basename(path)), 'w') as f:
            f.write(ast.unparse(tree))


@pytest.mark.parametrize('size, channels', [('s', 512), ('tiny', 384)])
def test_pretrain_config_backbone_builds_and_runs(size, channels, tmp_path):
    src = osp.join(CONFIG_DIR, 'cspnext_imagenet_pretrain')
    _without_external_bases(src, str(tmp_path))
    cfg = Config.fromfile(
        str(tmp_path / f'cspnext-{size}_8xb256-rsb-a1-600e_in1k.py'))
    assert cfg.custom_imports.imports == ['mmdet.models', 'yolokit.models']
    backbone = MODELS.build(cfg.model.backbone).eval()
    assert type(backbone).__name__ == 'CSPNeXt'
    with torch.no_grad():
        out, = backbone(torch.rand(1, 3, 64, 64))
    # the classifier head consumes the stride-32 output
    assert out.shape == (1, channels, 2, 2)
    assert cfg.model.head.in_channels == channels
    deepen, widen = SIZES[size]
    assert (cfg.model.backbone.deepen_factor,
            cfg.model.backbone.widen_factor) == (deepen, widen)


# -------------------------------------------------------------- metafiles


def test_metafiles():
    from mmengine.fileio import load
    meta = load(osp.join(CONFIG_DIR, 'metafile.yml'))
    names = set()
    for entry in meta['Models']:
        name = entry['Name']
        assert entry['Config'] == f'configs/rtmdet/{name}.py'
        assert osp.isfile(osp.join(REPO_ROOT, entry['Config']))
        assert entry['Weights'].startswith(
            f'https://download.openmmlab.com/mmyolo/v0/rtmdet/{name}/')
        assert 'box AP' in entry['Results'][0]['Metrics']
        names.add(name)
    assert names == {
        f'rtmdet_{size}_syncbn_fast_8xb32-300e_coco'
        for size in SIZES
    }
    kd = load(osp.join(CONFIG_DIR, 'distillation', 'metafile.yml'))
    kd_configs = {entry['Config'] for entry in kd['Models']}
    assert kd_configs == {f'configs/rtmdet/{c}' for c in DISTILL_CONFIGS}
