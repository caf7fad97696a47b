"""The shipped YOLOv8 configs load, build MMYOLO's exact model and run.

Every ``configs/yolov8/*.py`` is discovered by glob. The reference for the
built models is the spec's ``module_trees/yolov8/<name>.txt`` (shipped with
the tests as ``tests/data/module_trees.json.gz``): the module tree and
state_dict layout of the model MMYOLO v0.6.0 builds from the config of the
same name, which is what lets MMYOLO checkpoints load unchanged.
Documented values come from spec 02 section 4 (YOLOv8).
"""
import glob
import os.path as osp
from typing import Dict

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import FUNCTIONS

from yolokit.registry import MODELS, TRANSFORMS
from yolokit.testing.config_components import check_config_components
from yolokit.testing.module_tree import tree_differences

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'yolov8')
CONFIG_FILES = sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))

SIZES = {
    # deepen, widen, last_stage_out_channels (spec 02 section 4.2)
    'n': (0.33, 0.25, 1024),
    's': (0.33, 0.5, 1024),
    'm': (0.67, 0.75, 768),
    'l': (1.0, 1.0, 512),
    'x': (1.0, 1.25, 512),
}


def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


# Configs allowed to have no module tree, each with the reason: only
# configs MMYOLO v0.6.0 did not ship (so no reference tree exists).
CONFIGS_WITHOUT_TREE: Dict[str, str] = {
    'yolov8_n_fast_1xb16-30e_shapes.py':
    'yolokit-only config for the bundled toy "shapes" dataset (main job)',
}


def test_all_configs_are_there(module_trees):
    trees = [rel + '.py' for rel in module_trees.names('yolov8')]
    assert trees == sorted(set(CONFIG_FILES) - set(CONFIGS_WITHOUT_TREE))


@pytest.fixture(scope='module', params=CONFIG_FILES)
def built(request):
    name = request.param
    cfg = _load(name)
    model = MODELS.build(cfg.model)
    yield name, cfg, model
    del model


def test_model_matches_module_tree(built, module_trees):
    name, cfg, model = built
    assert cfg.default_scope == 'yolokit'
    tree = 'yolov8/' + osp.splitext(name)[0]
    if name in CONFIGS_WITHOUT_TREE:
        assert tree not in module_trees, f'{name} has a tree: compare it'
        pytest.skip(f'{name} has no module tree to compare with: '
                    f'{CONFIGS_WITHOUT_TREE[name]}')
    assert tree in module_trees, f'{name}: no module tree {tree!r}'
    problems = tree_differences(model, module_trees[tree])
    assert not problems, f'{name}:\n' + '\n'.join(problems)


def test_tensor_forward(built):
    # Every model runs, x too: on this 64 x 96 input it takes ~0.1 s on one
    # thread, less than its build.
    name, cfg, model = built
    num_classes = cfg.model.bbox_head.head_module.num_classes
    model.eval()
    with torch.no_grad():
        cls_scores, bbox_preds = model(torch.rand(1, 3, 64, 96), mode='tensor')
    for stride, cls, bbox in zip((8, 16, 32), cls_scores, bbox_preds):
        assert cls.shape == (1, num_classes, 64 // stride, 96 // stride)
        assert bbox.shape == (1, 4, 64 // stride, 96 // stride)
        # distances are expectations over 16 bins: 0 <= d <= 15
        assert bbox.min() >= 0 and bbox.max() <= 15


# ------------------------------------------------ documented values


def test_primitive_config_values():
    cfg = _load('yolov8_s_syncbn_fast_8xb16-500e_coco.py')
    model = cfg.model
    assert model.test_cfg == dict(
        multi_label=True,
        nms_pre=30000,
        score_thr=0.001,
        nms=dict(type='nms', iou_threshold=0.7),
        max_per_img=300)
    assert model.train_cfg.assigner == dict(
        type='BatchTaskAlignedAssigner',
        num_classes=80,
        use_ciou=True,
        topk=10,
        alpha=0.5,
        beta=6.0,
        eps=1e-9)
    head = model.bbox_head
    assert head.loss_cls.loss_weight == 0.5
    assert head.loss_cls.reduction == 'none'
    assert head.loss_bbox.loss_weight == 7.5
    assert head.loss_bbox.iou_mode == 'ciou'
    assert head.loss_dfl.loss_weight == pytest.approx(1.5 / 4)
    assert head.head_module.reg_max == 16
    assert head.prior_generator == dict(
        type='mmdet.MlvlPointGenerator', offset=0.5, strides=[8, 16, 32])
    assert cfg.val_dataloader.dataset.batch_shapes_cfg is None
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=10.0)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay, optimizer.nesterov) == ('SGD', 0.01, 0.937,
                                                            0.0005, True)
    assert cfg.optim_wrapper.constructor == 'YOLOv5OptimizerConstructor'
    scheduler = cfg.default_hooks.param_scheduler
    assert (scheduler.type, scheduler.scheduler_type, scheduler.lr_factor,
            scheduler.max_epochs) == ('YOLOv5ParamSchedulerHook', 'linear',
                                      0.01, 500)
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 2
    ema, switch = cfg.custom_hooks
    assert ema.type == 'EMAHook' and ema.momentum == 0.0001
    # Mosaic off for the last 10 of 500 epochs, validation every epoch then
    assert switch.type == 'mmdet.PipelineSwitchHook'
    assert switch.switch_epoch == 490
    assert cfg.train_cfg.max_epochs == 500
    assert cfg.train_cfg.dynamic_intervals == [(490, 1)]
    stage2 = [t.type for t in switch.switch_pipeline]
    assert stage2 == [
        'LoadImageFromFile', 'LoadAnnotations', 'YOLOv5KeepRatioResize',
        'LetterResize', 'YOLOv5RandomAffine', 'mmdet.Albu',
        'YOLOv5HSVRandomAug', 'mmdet.RandomFlip', 'mmdet.PackDetInputs'
    ]
    assert switch.switch_pipeline[3].allow_scale_up is True
    stage1 = cfg.train_dataloader.dataset.pipeline
    affine = next(t for t in stage1 if t.type == 'YOLOv5RandomAffine')
    assert affine.max_aspect_ratio == 100
    assert affine.border == (-320, -320)
    assert affine.scaling_ratio_range == (0.5, 1.5)
    assert 'tta_model' in cfg and 'tta_pipeline' in cfg


@pytest.mark.parametrize('size', list(SIZES))
def test_size_variants(size):
    deepen, widen, last = SIZES[size]
    for kind in ('', 'mask-refine_'):
        cfg = _load(f'yolov8_{size}_{kind}syncbn_fast_8xb16-500e_coco.py')
        model = cfg.model
        assert model.backbone.deepen_factor == deepen
        assert model.backbone.widen_factor == widen
        assert model.backbone.last_stage_out_channels == last
        assert model.neck.in_channels == [256, 512, last]
        assert model.neck.out_channels == [256, 512, last]
        assert model.bbox_head.head_module.in_channels == [256, 512, last]
        assert model.bbox_head.head_module.widen_factor == widen
        pipeline = cfg.train_dataloader.dataset.pipeline
        types = [t.type for t in pipeline]
        mixup = next((t for t in pipeline if t.type == 'YOLOv5MixUp'), None)
        expected_mixup = {'m': 0.1, 'l': 0.15, 'x': 0.15}.get(size)
        assert (mixup.prob if mixup else None) == expected_mixup
        affine = next(t for t in pipeline if t.type == 'YOLOv5RandomAffine')
        scale = 0.9 if size in 'mlx' else 0.5
        assert affine.scaling_ratio_range == pytest.approx(
            (1 - scale, 1 + scale))
        stage2_affine = cfg.custom_hooks[1].switch_pipeline[4]
        assert stage2_affine.type == 'YOLOv5RandomAffine'
        assert stage2_affine.scaling_ratio_range == pytest.approx(
            (1 - scale, 1 + scale))
        if kind:
            load = pipeline[1]
            assert (load.with_mask, load.mask2bbox) == (True, True)
            assert affine.use_mask_refine is True
            assert affine.min_area_ratio == 0.01
            assert 'RemoveDataElement' in types
            copypaste = {'m': 0.1, 'l': 0.3, 'x': 0.3}.get(size)
            assert ('YOLOv5CopyPaste' in types) == (copypaste is not None)
            if copypaste:
                assert next(t for t in pipeline
                            if t.type == 'YOLOv5CopyPaste').prob == copypaste
        else:
            assert 'YOLOv5CopyPaste' not in types
            assert 'RemoveDataElement' not in types


def test_cat_config():
    cfg = _load('yolov8_s_fast_1xb12-40e_cat.py')
    assert cfg.model.bbox_head.head_module.num_classes == 1
    assert cfg.model.train_cfg.assigner.num_classes == 1
    assert cfg.model.backbone.frozen_stages == 4
    assert cfg.optim_wrapper.optimizer.batch_size_per_gpu == 12
    assert cfg.custom_hooks[1].switch_epoch == 35
    assert cfg.train_cfg.dynamic_intervals == [(35, 1)]
    assert cfg.train_dataloader.dataset.metainfo.classes == ('cat', )
    assert cfg.default_hooks.param_scheduler.warmup_mim_iter == 10


# ----------------------------------------- data pipeline and registry names


@pytest.mark.parametrize('name', CONFIG_FILES)
def test_components_are_registered(name):
    check_config_components(_load(name))


# ------------------------------------------------- loss and predict steps


def _synthetic_sample(pipeline_cfg, h=96, w=128, seed=0):
    """Run a pipeline without the dataset-mixing steps on a synthetic
    image with two polygon instances."""
    rng = np.random.default_rng(seed)
    instances = [
        dict(
            bbox=[10., 12., 60., 70.],
            bbox_label=0,
            ignore_flag=0,
            mask=[[10., 12., 60., 12., 60., 70., 10., 70.]]),
        dict(
            bbox=[70., 20., 120., 60.],
            bbox_label=0,
            ignore_flag=0,
            mask=[[70., 20., 120., 40., 95., 60.]]),
    ]
    results = dict(
        img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        img_shape=(h, w),
        ori_shape=(h, w),
        img_id=0,
        img_path='synthetic.jpg',
        instances=instances)
    for step in pipeline_cfg:
        if step.type in ('LoadImageFromFile', 'Mosaic', 'YOLOv5MixUp'):
            continue
        results = TRANSFORMS.build(step)(results)
    return results


@pytest.mark.parametrize('name', [
    'yolov8_n_syncbn_fast_8xb16-500e_coco.py',
    'yolov8_n_mask-refine_syncbn_fast_8xb16-500e_coco.py',
    'yolov8_s_fast_1xb12-40e_cat.py',
])
def test_loss_step(name):
    """The config's own training steps (Mosaic/MixUp need a dataset and are
    skipped), yolov5_collate, the data preprocessor, then the loss."""
    cfg = _load(name)
    torch.manual_seed(0)
    np.random.seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    stage = cfg.custom_hooks[1].switch_pipeline
    batch = [_synthetic_sample(stage, seed=i) for i in range(2)]
    for sample in batch:
        assert 'gt_masks' not in sample['data_samples'].gt_instances
    collate = FUNCTIONS.get(cfg.train_dataloader.collate_fn.type)
    data = model.data_preprocessor(collate(batch), True)
    assert data['inputs'].shape == (2, 3, 640, 640)
    assert isinstance(data['data_samples'], dict)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), key
    assert losses['loss_bbox'] > 0 and losses['loss_dfl'] > 0
    sum(losses.values()).backward()
    grads = [
        p.grad for p in model.bbox_head.head_module.parameters()
        if p.grad is not None
    ]
    assert grads and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize('name', [
    'yolov8_n_syncbn_fast_8xb16-500e_coco.py',
    'yolov8_s_fast_1xb12-40e_cat.py',
])
def test_predict_step_with_test_pipeline(name, predict_on_synthetic_image):
    cfg = _load(name)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    pred = predict_on_synthetic_image(cfg, model).pred_instances
    num_classes = cfg.model.bbox_head.head_module.num_classes
    assert ((pred.labels >= 0) & (pred.labels < num_classes)).all()


def test_metafile():
    """Every entry names an existing config of the same name and an
    upstream checkpoint; results are marked as upstream."""
    from mmengine.fileio import load
    meta = load(osp.join(CONFIG_DIR, 'metafile.yml'))
    names = [m['Name'] for m in meta['Models']]
    assert len(names) == len(set(names)) == 10
    for model in meta['Models']:
        name = model['Name']
        assert model['In Collection'] == 'YOLOv8'
        assert model['Config'] == f'configs/yolov8/{name}.py'
        assert osp.basename(model['Config']) in CONFIG_FILES
        assert model['Weights'].startswith(
            f'https://download.openmmlab.com/mmyolo/v0/yolov8/{name}/{name}_')
        assert 'upstream' in model['Metadata']['Results Source']
        assert model['Results'][0]['Metrics']['box AP'] > 30
