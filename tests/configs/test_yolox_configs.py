"""The shipped YOLOX configs load, build MMYOLO's exact model and run.

Every ``configs/yolox/*.py`` but the TTA fragment ``yolox_p5_tta.py`` is a
detection config. Each is built and compared with the spec's
``module_trees/yolox/<name>.txt`` (shipped with the tests as
``tests/data/module_trees.json.gz``): the module tree and state_dict layout
of the model MMYOLO v0.6.0 builds from the config of the same name, which is
what lets MMYOLO checkpoints load unchanged. Loss and predict steps run on
small inputs for the small models, through the configs' own pipelines.

Documented values: the YOLOX recipe of MMYOLO v0.6.0 (spec 01 §"Try AdamW"
table and 02 §"MMYOLO YOLOX-style config": affine scaling (0.1, 2), MixUp
ratio (0.8, 1.6), 15 last epochs without Mosaic/MixUp; the RTMDet-hyp
variants: batch 8 -> 32, interval 10 -> 1, 15 -> 20 last epochs, AdamW
0.004 / 0.05, EMA momentum 0.0002).
"""
import copy
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import FUNCTIONS

from yolokit.testing.module_tree import tree_differences
from yolokit.registry import (DATA_SAMPLERS, DATASETS, HOOKS, METRICS, MODELS,
                              OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                              PARAM_SCHEDULERS, TRANSFORMS)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'yolox')
TTA = 'yolox_p5_tta.py'
DET_CONFIGS = sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))
    if osp.basename(p) != TTA)

SIZES = {  # deepen, widen, use_depthwise
    'nano': (0.33, 0.25, True),
    'tiny': (0.33, 0.375, False),
    's': (0.33, 0.5, False),
    'm': (0.67, 0.75, False),
    'l': (1.0, 1.0, False),
    'x': (1.33, 1.25, False),
}
S = 'yolox_s_fast_8xb8-300e_coco.py'
S_HYP = 'yolox_s_fast_8xb32-300e-rtmdet-hyp_coco.py'
CAT = 'yolox_s_fast_1xb12-40e-rtmdet-hyp_cat.py'
TINY = 'yolox_tiny_fast_8xb8-300e_coco.py'
NANO_HYP = 'yolox_nano_fast_8xb32-300e-rtmdet-hyp_coco.py'


def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_configs_were_found():
    expected = {f'yolox_{s}_fast_8xb8-300e_coco.py'
                for s in SIZES} | {
                    f'yolox_{s}_fast_8xb32-300e-rtmdet-hyp_coco.py'
                    for s in ('nano', 'tiny', 's', 'm')
                } | {CAT}
    assert set(DET_CONFIGS) == expected


# ------------------------------------------------------ module-tree check


@pytest.fixture(scope='module', params=DET_CONFIGS)
def built(request):
    name = request.param
    cfg = _load(name)
    model = MODELS.build(cfg.model)
    yield name, cfg, model
    del model


def test_config_builds_yolox(built):
    _, cfg, model = built
    assert cfg.default_scope == 'yolokit'
    assert type(model).__name__ == 'YOLODetector'
    assert [
        type(model.backbone).__name__,
        type(model.neck).__name__,
        type(model.bbox_head).__name__,
        type(model.bbox_head.head_module).__name__
    ] == ['YOLOXCSPDarknet', 'YOLOXPAFPN', 'YOLOXHead', 'YOLOXHeadModule']
    assert model.bbox_head.use_bbox_aux is False


def test_model_matches_module_tree(built, module_trees):
    name, _, model = built
    tree = 'yolox/' + osp.splitext(name)[0]
    # MMYOLO 0.6.0 shipped every YOLOX config here, so each has its tree
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
        cls_scores, bbox_preds, objectnesses = model(
            torch.rand(1, 3, 64, 96), mode='tensor')
    for stride, cls, bbox, obj in zip([8, 16, 32], cls_scores, bbox_preds,
                                      objectnesses):
        size = (64 // stride, 96 // stride)
        assert cls.shape == (1, num_classes, *size)
        assert bbox.shape == (1, 4, *size)
        assert obj.shape == (1, 1, *size)


def test_every_module_tree_has_a_config(module_trees):
    names = [rel + '.py' for rel in module_trees.names('yolox')]
    assert names == DET_CONFIGS


# ----------------------------------------------- values of the recipes


def test_s_config_recipe_values():
    cfg = _load(S)
    model = cfg.model
    assert model.init_cfg == dict(
        type='Kaiming',
        layer='Conv2d',
        a=2.23606797749979,
        distribution='uniform',
        mode='fan_in',
        nonlinearity='leaky_relu')
    assert model.use_syncbn is False
    assert model.data_preprocessor.pad_size_divisor == 32
    assert model.data_preprocessor.batch_augments == [
        dict(
            type='YOLOXBatchSyncRandomResize',
            random_size_range=(480, 800),
            size_divisor=32,
            interval=10)
    ]
    assert tuple(model.backbone.spp_kernal_sizes) == (5, 9, 13)
    assert (model.neck.in_channels,
            model.neck.out_channels) == ([256, 512, 1024], 256)
    head = model.bbox_head
    assert head.head_module.stacked_convs == 2
    assert tuple(head.head_module.featmap_strides) == (8, 16, 32)
    assert head.loss_bbox == dict(
        type='mmdet.IoULoss',
        mode='square',
        eps=1e-16,
        reduction='sum',
        loss_weight=5.0)
    assert head.loss_bbox_aux == dict(
        type='mmdet.L1Loss', reduction='sum', loss_weight=1.0)
    assert model.train_cfg.assigner == dict(
        type='mmdet.SimOTAAssigner',
        center_radius=2.5,
        iou_calculator=dict(type='mmdet.BboxOverlaps2D'))
    assert model.test_cfg == dict(
        yolox_style=True,
        multi_label=True,
        score_thr=0.001,
        max_per_img=300,
        nms=dict(type='nms', iou_threshold=0.65))
    steps = {t.type: t for t in cfg.train_pipeline_stage1}
    assert [t.type for t in cfg.train_pipeline_stage1] == [
        'LoadImageFromFile', 'LoadAnnotations', 'Mosaic', 'mmdet.RandomAffine',
        'YOLOXMixUp', 'mmdet.YOLOXHSVRandomAug', 'mmdet.RandomFlip',
        'mmdet.FilterAnnotations', 'mmdet.PackDetInputs'
    ]
    assert tuple(steps['mmdet.RandomAffine'].scaling_ratio_range) == (0.1, 2)
    assert tuple(steps['mmdet.RandomAffine'].border) == (-320, -320)
    assert tuple(steps['YOLOXMixUp'].ratio_range) == (0.8, 1.6)
    assert steps['Mosaic'].pre_transform == cfg.pre_transform
    stage2 = [t.type for t in cfg.train_pipeline_stage2]
    assert 'Mosaic' not in stage2 and 'YOLOXMixUp' not in stage2
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.train_dataloader.collate_fn.type == 'yolov5_collate'
    assert cfg.train_dataloader.dataset.filter_cfg == dict(
        filter_empty_gt=False, min_size=32)
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005, nesterov=True)
    warmup, cosine, constant = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('mmdet.QuadraticWarmupLR', 5)
    assert (cosine.begin, cosine.end, cosine.T_max,
            cosine.eta_min) == (5, 285, 285, 0.01 * 0.05)
    assert (constant.type, constant.begin, constant.end) == ('ConstantLR', 285,
                                                             300)
    switch, sync_norm, ema = cfg.custom_hooks
    assert (switch.type, switch.num_last_epochs,
            switch.priority) == ('YOLOXModeSwitchHook', 15, 48)
    assert switch.new_train_pipeline == cfg.train_pipeline_stage2
    assert sync_norm.type == 'mmdet.SyncNormHook'
    assert (ema.type, ema.momentum, ema.priority) == ('EMAHook', 0.0001, 49)
    assert cfg.train_cfg.dynamic_intervals == [(285, 1)]
    assert cfg.auto_scale_lr.base_batch_size == 64
    assert 'tta_model' in cfg and 'tta_pipeline' in cfg


@pytest.mark.parametrize('size', list(SIZES))
def test_size_variants(size):
    deepen, widen, depthwise = SIZES[size]
    for name in DET_CONFIGS:
        if not name.startswith(f'yolox_{size}_'):
            continue
        model = _load(name).model
        assert (model.backbone.deepen_factor,
                model.backbone.widen_factor) == (deepen, widen), name
        assert (model.neck.deepen_factor, model.neck.widen_factor) == (deepen,
                                                                       widen)
        assert model.bbox_head.head_module.widen_factor == widen
        for part in (model.backbone, model.neck, model.bbox_head.head_module):
            assert part.get('use_depthwise', False) is depthwise, name


@pytest.mark.parametrize('name', [TINY, 'yolox_nano_fast_8xb8-300e_coco.py'])
def test_tiny_and_nano_recipe(name):
    """Smaller inputs (320-640 multi-scale, 416 test), milder affine zoom,
    no MixUp."""
    cfg = _load(name)
    resize = cfg.model.data_preprocessor.batch_augments[0]
    assert tuple(resize.random_size_range) == (320, 640)
    stage1 = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert 'YOLOXMixUp' not in stage1 and 'Mosaic' in stage1
    affine = next(t for t in cfg.train_dataloader.dataset.pipeline
                  if t.type == 'mmdet.RandomAffine')
    assert tuple(affine.scaling_ratio_range) == (0.5, 1.5)
    test_resize = next(t for t in cfg.test_dataloader.dataset.pipeline
                       if t.type == 'mmdet.Resize')
    assert tuple(test_resize.scale) == (416, 416)


@pytest.mark.parametrize('size', ['nano', 'tiny', 's', 'm'])
def test_rtmdet_hyp_variants(size):
    cfg = _load(f'yolox_{size}_fast_8xb32-300e-rtmdet-hyp_coco.py')
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.model.data_preprocessor.batch_augments[0].interval == 1
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=0.004, weight_decay=0.05)
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True)
    assert 'momentum' not in cfg.optim_wrapper.optimizer
    switch, _, ema = cfg.custom_hooks
    assert switch.num_last_epochs == 20 and ema.momentum == 0.0002
    assert cfg.param_scheduler[1].end == 280
    assert cfg.param_scheduler[1].eta_min == pytest.approx(0.004 * 0.05)
    assert cfg.param_scheduler[2].begin == 280
    assert cfg.train_cfg.dynamic_intervals == [(280, 1)]
    assert cfg.auto_scale_lr.base_batch_size == 256


def test_cat_config_matches_tutorial():
    cfg = _load(CAT)
    assert cfg.model.backbone.frozen_stages == 4
    assert cfg.model.bbox_head.head_module.num_classes == 1
    assert cfg.train_dataloader.batch_size == 12
    assert cfg.train_dataloader.num_workers == 4
    assert cfg.train_dataloader.dataset.metainfo.classes == ('cat', )
    assert cfg.custom_hooks[0].num_last_epochs == 5
    assert [s.end for s in cfg.param_scheduler] == [3, 35, 40]
    assert cfg.train_cfg.max_epochs == 40 and cfg.train_cfg.val_interval == 10
    assert cfg.load_from.endswith(
        'yolox_s_fast_8xb32-300e-rtmdet-hyp_coco_20230210_134645-3a8dfbd7.pth')
    assert cfg.val_evaluator.ann_file == './data/cat/annotations/test.json'


def test_tta_pipeline():
    cfg = _load(S)
    assert cfg.tta_model.type == 'mmdet.DetTTAModel'
    tta = cfg.tta_pipeline[1]
    resizes, flips, pads, packs = tta.transforms
    assert [tuple(r.scale) for r in resizes] == [(640, 640), (320, 320),
                                                 (960, 960)]
    assert [f.prob for f in flips] == [1.0, 0.0]
    assert pads[0].pad_to_square is True
    assert 'flip_direction' in packs[0].meta_keys


# ------------------------------------------- registries and data configs


@pytest.mark.parametrize('name', DET_CONFIGS)
def test_data_and_runtime_components_build(name):
    cfg = _load(name)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        DATA_SAMPLERS.get(loader.sampler.type)
        if 'collate_fn' in loader:
            assert FUNCTIONS.get(loader.collate_fn.type) is not None
        DATASETS.get(loader.dataset.type)
        for step in loader.dataset.pipeline:
            TRANSFORMS.build(step)
    for step in cfg.custom_hooks[0].new_train_pipeline:
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
        cfg.optim_wrapper.get('constructor', 'DefaultOptimWrapperConstructor'))
    for scheduler in cfg.param_scheduler:
        PARAM_SCHEDULERS.get(scheduler.type)


# ----------------------------------------------- loss and predict steps


class _FakeDataset:
    """What the mixing transforms need from the training dataset."""

    def __init__(self, paths, instances):
        self.paths = paths
        self.instances = instances

    def __len__(self):
        return len(self.paths)

    def get_data_info(self, idx):
        return dict(
            img_path=self.paths[idx],
            img_id=idx,
            instances=copy.deepcopy(self.instances))


def _write_image(tmp_path, name, hw=(120, 160), seed=0):
    rng = np.random.default_rng(seed)
    path = str(tmp_path / name)
    cv2.imwrite(path, rng.integers(0, 256, (*hw, 3), dtype=np.uint8))
    return path


def _run(pipeline, results):
    for step in pipeline:
        results = step(results)
        if results is None:
            return None
    return results


def _instances(num_classes):
    return [
        dict(bbox=[10., 12., 110., 100.], bbox_label=0, ignore_flag=0),
        dict(
            bbox=[60., 20., 150., 115.],
            bbox_label=num_classes - 1,
            ignore_flag=0),
    ]


@pytest.mark.parametrize('name', [TINY, NANO_HYP, CAT])
def test_train_pipelines_and_loss_step(name, tmp_path):
    cfg = _load(name)
    num_classes = cfg.model.bbox_head.head_module.num_classes
    instances = _instances(num_classes)
    paths = [_write_image(tmp_path, f'{i}.png', seed=i) for i in range(4)]
    dataset = _FakeDataset(paths, instances)
    stage1 = [
        TRANSFORMS.build(t) for t in cfg.train_dataloader.dataset.pipeline
    ]
    stage2 = [
        TRANSFORMS.build(t) for t in cfg.custom_hooks[0].new_train_pipeline
    ]
    sample = None
    for seed in range(10):
        # the random affine may push every box out; try another draw
        np.random.seed(seed)
        sample = _run(
            stage1,
            dict(
                img_path=paths[0],
                img_id=0,
                instances=copy.deepcopy(instances),
                dataset=dataset))
        if sample is not None:
            break
    assert sample is not None
    assert sample['inputs'].shape == (3, 640, 640)
    sample2 = _run(
        stage2,
        dict(img_path=paths[1], img_id=1, instances=copy.deepcopy(instances)))
    # resized with its ratio kept, then padded to a square
    assert sample2['inputs'].shape == (3, 640, 640)

    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    collate_cfg = dict(cfg.train_dataloader.collate_fn)
    collate = FUNCTIONS.get(collate_cfg.pop('type'))
    batch = collate([sample, sample2], **collate_cfg)
    # downscale to keep the step fast; the boxes are scaled alike
    batch['inputs'] = batch['inputs'][:, :, ::5, ::5].contiguous()
    batch['data_samples']['bboxes_labels'][:, 2:] /= 5
    data = model.data_preprocessor(batch, True)
    assert data['inputs'].shape == (2, 3, 128, 128)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_obj'}
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value) and value > 0, key
    sum(losses.values()).backward()
    head_grads = [
        p.grad for p in model.bbox_head.head_module.parameters()
        if p.grad is not None
    ]
    assert head_grads and any(g.abs().sum() > 0 for g in head_grads)
    if name == CAT:
        # frozen_stages=4: the backbone gets no gradient
        assert all(p.grad is None for p in model.backbone.parameters())

    # last stage: the mode-switch hook turns the L1 loss on
    model.bbox_head.use_bbox_aux = True
    losses = model(**data, mode='loss')
    assert set(losses) == {
        'loss_cls', 'loss_bbox', 'loss_obj', 'loss_bbox_aux'
    }
    assert torch.isfinite(losses['loss_bbox_aux'])
    assert losses['loss_bbox_aux'] > 0


@pytest.mark.parametrize('name, size', [(TINY, 416), (NANO_HYP, 416),
                                        (CAT, 640)])
def test_predict_step_with_test_pipeline(name, size, tmp_path):
    cfg = _load(name)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    # Fresh priors score sigmoid(-4.6)^2 = 1e-4 < score_thr; lift the biases
    # so that boxes come out.
    with torch.no_grad():
        for conv in list(model.bbox_head.head_module.multi_level_conv_cls) + \
                list(model.bbox_head.head_module.multi_level_conv_obj):
            conv.bias.fill_(0.)
    model.eval()
    ori_h, ori_w = 150, 200
    path = _write_image(tmp_path, 'test.png', hw=(ori_h, ori_w))
    pipeline = [
        TRANSFORMS.build(step) for step in cfg.test_dataloader.dataset.pipeline
    ]
    results = _run(
        pipeline,
        dict(
            img_path=path,
            img_id=0,
            instances=[
                dict(bbox=[10., 10., 50., 60.], bbox_label=0, ignore_flag=0)
            ]))
    data = model.data_preprocessor(pseudo_collate([results]), False)
    assert data['inputs'].shape == (1, 3, size, size)
    with torch.no_grad():
        sample = model(**data, mode='predict')[0]
    pred = sample.pred_instances
    assert len(pred) > 0
    assert pred.bboxes.shape == (len(pred), 4)
    assert pred.bboxes[:, 0::2].min() >= 0
    assert pred.bboxes[:, 0::2].max() <= ori_w
    assert pred.bboxes[:, 1::2].max() <= ori_h
    assert (pred.scores >= cfg.model.test_cfg.score_thr).all()
    num_classes = cfg.model.bbox_head.head_module.num_classes
    assert ((pred.labels >= 0) & (pred.labels < num_classes)).all()


# -------------------------------------------------------------- metafile


def test_metafile_and_model_index():
    from mmengine.fileio import load
    meta = load(osp.join(CONFIG_DIR, 'metafile.yml'))
    names = set()
    for entry in meta['Models']:
        name = entry['Name']
        assert entry['Config'] == f'configs/yolox/{name}.py'
        assert osp.isfile(osp.join(REPO_ROOT, entry['Config']))
        assert entry['Weights'].startswith(
            'https://download.openmmlab.com/mmyolo/v0/yolox/')
        assert 'box AP' in entry['Results'][0]['Metrics']
        names.add(name)
    assert names == {
        f'yolox_{s}_fast_8xb8-300e_coco'
        for s in ('tiny', 's', 'm', 'l', 'x')
    } | {
        f'yolox_{s}_fast_8xb32-300e-rtmdet-hyp_coco'
        for s in ('tiny', 's', 'm')
    }
    index = load(osp.join(REPO_ROOT, 'model-index.yml'))
    assert 'configs/yolox/metafile.yml' in index['Import']
