"""The shipped YOLOv5 configs load, build MMYOLO's exact model and run.

Every ``configs/yolov5/**/*.py`` is discovered by glob, so a new config is
covered as soon as it is added. The reference for the built models is the
spec's ``module_trees/yolov5/<same relative path>.txt``, shipped with the
tests as ``tests/data/module_trees.json.gz`` (the ``module_trees``
fixture): the module tree and state_dict layout (keys, shapes, order) of
the model MMYOLO v0.6.0 builds from the config of the same name. Matching
it is what lets MMYOLO checkpoints load unchanged.
"""
import glob
import math
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import FUNCTIONS

from yolokit.testing.module_tree import tree_differences
from yolokit.registry import (DATA_SAMPLERS, DATASETS, HOOKS, METRICS, MODELS,
                              OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                              TRANSFORMS)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'yolov5')
CONFIG_FILES = sorted(
    osp.relpath(path, CONFIG_DIR)
    for path in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True))

# Configs allowed to have no module-tree file, each with the reason. Only
# configs MMYOLO v0.6.0 did not ship (so no reference tree exists) belong
# here; a shipped config without a tree is a spec gap to report, not to hide.
CONFIGS_WITHOUT_TREE: Dict[str, str] = {
    'yolov5_n-v61_fast_1xb16-60e_shapes.py':
    'yolokit-only config for the bundled toy "shapes" dataset',
}

# Sub-folders of module_trees/yolov5 whose configs are not written yet, with
# the reason. Every other tree file must have its config.
PENDING_TREE_DIRS: Dict[str, str] = {
    'ins_seg': 'YOLOv5 instance segmentation configs: a later task',
}

P5_CONFIG = 'yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py'
P6_CONFIG = 'yolov5_n-p6-v62_syncbn_fast_8xb16-300e_coco.py'


def test_configs_were_found():
    # 23 YOLOv5 configs, 10 YOLOv5u and 5 mask-refine ones
    assert len(CONFIG_FILES) >= 38, CONFIG_FILES


# ----------------------------------------------------------------- helpers


def _load(rel_path: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, rel_path))


def _tree_name(rel_path: str) -> str:
    """The module-tree name of ``configs/yolov5/<rel_path>``."""
    return 'yolov5/' + osp.splitext(rel_path)[0]


def _input_size(cfg: Config) -> int:
    # The smallest input whose coarsest level (stride 32 or 64) is 2x2.
    return 2 * max(cfg.model.bbox_head.head_module.featmap_strides)


def _dataset_cfgs(dataloader_cfg: ConfigDict) -> List[ConfigDict]:
    """The leaf dataset configs of a dataloader (through Concat/Repeat)."""
    stack = [dataloader_cfg.dataset]
    leaves = []
    while stack:
        dataset = stack.pop()
        if 'datasets' in dataset:
            stack.extend(dataset.datasets)
        elif 'dataset' in dataset:
            stack.append(dataset.dataset)
        else:
            leaves.append(dataset)
    return leaves


# --------------------------------------------------- load, build and compare


@pytest.fixture(scope='module', params=CONFIG_FILES)
def built(request):
    """``(rel_path, cfg, model)`` for each config.

    Module-scoped and parametrized, so pytest groups the tests by config:
    each model is built once, shared by the tests below, and released before
    the next config is built (holding all of them would take gigabytes).
    """
    rel_path = request.param
    cfg = _load(rel_path)
    model = MODELS.build(cfg.model)
    yield rel_path, cfg, model
    del model


def test_config_loads_in_yolokit_scope(built):
    _, cfg, model = built
    assert cfg.default_scope == 'yolokit'
    assert type(model).__name__ == cfg.model.type == 'YOLODetector'


def test_model_matches_module_tree(built, module_trees):
    rel_path, _, model = built
    name = _tree_name(rel_path)
    if name not in module_trees:
        assert rel_path in CONFIGS_WITHOUT_TREE, (
            f'{rel_path} has no module tree {name!r} in '
            f'{module_trees.path}; add it to CONFIGS_WITHOUT_TREE with the '
            'reason if MMYOLO 0.6.0 did not ship this config')
        pytest.skip(f'{rel_path} has no module tree to compare with: '
                    f'{CONFIGS_WITHOUT_TREE[rel_path]}')
    problems = tree_differences(model, module_trees[name])
    assert not problems, f'{rel_path}:\n' + '\n'.join(problems)


def test_tensor_forward(built):
    # Every model runs, the biggest too: on the 64 px (P5) or 128 px (P6)
    # input the x models take under 0.2 s on one thread, less than their
    # build.
    rel_path, cfg, model = built
    head_cfg = cfg.model.bbox_head.head_module
    num_classes = head_cfg.num_classes
    strides = head_cfg.featmap_strides
    size = _input_size(cfg)
    model.eval()
    with torch.no_grad():
        outputs = model(torch.rand(1, 3, size, size), mode='tensor')
    if cfg.model.bbox_head.type == 'YOLOv8Head':  # the YOLOv5u configs
        _check_anchor_free_outputs(outputs, num_classes, strides, size)
        return
    cls_scores, bbox_preds, objectnesses = outputs
    num_priors = head_cfg.num_base_priors
    # Per level: (B, na * nc, H/s, W/s), (B, na * 4, ...), (B, na, ...).
    assert len(cls_scores) == len(bbox_preds) == len(objectnesses) == len(
        strides)
    for stride, cls, bbox, obj in zip(strides, cls_scores, bbox_preds,
                                      objectnesses):
        side = size // stride
        assert cls.shape == (1, num_priors * num_classes, side, side)
        assert bbox.shape == (1, num_priors * 4, side, side)
        assert obj.shape == (1, num_priors, side, side)
        assert torch.isfinite(cls).all() and torch.isfinite(bbox).all()


def _check_anchor_free_outputs(outputs, num_classes, strides, size):
    """YOLOv8Head per level: class logits (B, nc, H/s, W/s) and the
    expected side distances (B, 4, H/s, W/s), in stride units."""
    cls_scores, bbox_preds = outputs
    assert len(cls_scores) == len(bbox_preds) == len(strides)
    for stride, cls, bbox in zip(strides, cls_scores, bbox_preds):
        side = size // stride
        assert cls.shape == (1, num_classes, side, side)
        assert bbox.shape == (1, 4, side, side)
        assert torch.isfinite(cls).all()
        # expectations over reg_max = 16 bins lie in [0, 15]
        assert bbox.min() >= 0 and bbox.max() <= 15


def test_every_module_tree_has_a_config(module_trees):
    pending = tuple(folder + '/' for folder in PENDING_TREE_DIRS)
    configs = [rel + '.py' for rel in module_trees.names('yolov5')]
    missing = [
        c for c in configs
        if not c.startswith(pending) and c not in CONFIG_FILES
    ]
    assert not missing, f'configs/yolov5 lacks {missing}'


def test_tree_exemptions_are_current(module_trees):
    """An exemption outlives its reason once the config or tree exists."""
    for rel_path in CONFIGS_WITHOUT_TREE:
        assert rel_path in CONFIG_FILES, f'{rel_path} is no config any more'
        assert _tree_name(rel_path) not in module_trees, (
            f'{rel_path} has a module tree now: remove it from '
            'CONFIGS_WITHOUT_TREE')
    trees = module_trees.names('yolov5')
    for folder in PENDING_TREE_DIRS:
        assert any(t.startswith(folder + '/') for t in trees), (
            f'module_trees/yolov5 has no {folder}/ trees: remove it from '
            'PENDING_TREE_DIRS')
        written = [c for c in CONFIG_FILES if c.startswith(folder + '/')]
        assert not written, (
            f'configs/yolov5/{folder} exists now ({written}): remove it from '
            'PENDING_TREE_DIRS so that all its trees need a config')


def test_metafile_and_model_index():
    """The model index mim and MMEngine read: every entry names an existing
    config of the same name and an upstream checkpoint."""
    from mmengine.fileio import load
    index = load(osp.join(REPO_ROOT, 'model-index.yml'))
    assert 'configs/yolov5/metafile.yml' in index['Import']
    meta = load(osp.join(CONFIG_DIR, 'metafile.yml'))
    collections = {c['Name'] for c in meta['Collections']}
    names = set()
    for model in meta['Models']:
        name = model['Name']
        assert name not in names, f'duplicate metafile entry {name}'
        names.add(name)
        assert model['In Collection'] in collections, name
        config = model['Config']
        assert config.startswith('configs/yolov5/'), config
        assert osp.splitext(osp.basename(config))[0] == name
        assert osp.relpath(config, 'configs/yolov5') in CONFIG_FILES, config
        # MMYOLO publishes the mask-refine weights under their config
        # folder, the older ones (VOC too) directly under yolov5/.
        folder = osp.dirname(osp.relpath(config, 'configs/yolov5'))
        url_dir = 'mask_refine/' if folder == 'mask_refine' else ''
        assert model['Weights'].startswith(
            'https://download.openmmlab.com/mmyolo/v0/yolov5/' + url_dir +
            name + '/'), model['Weights']
        assert model['Results'] and 'box AP' in model['Results'][0]['Metrics']
    # The COCO P5 family is all there (spec 04 §20: the model zoo).
    for size in 'nsmlx':
        assert f'yolov5_{size}-v61_syncbn_fast_8xb16-300e_coco' in names


# ------------------------------------------------ values documented by spec


def test_primitive_config_values():
    """Spec 04 §14 and 02 §1: the documented YOLOv5-s values."""
    cfg = _load('yolov5_s-v61_syncbn_8xb16-300e_coco.py')
    assert cfg.model.data_preprocessor.type == 'mmdet.DetDataPreprocessor'
    assert cfg.model.test_cfg == dict(
        multi_label=True,
        nms_pre=30000,
        score_thr=0.001,
        nms=dict(type='nms', iou_threshold=0.65),
        max_per_img=300)
    head = cfg.model.bbox_head
    assert head.prior_match_thr == 4.0
    assert head.obj_level_weights == [4.0, 1.0, 0.4]
    # Worked values of the adaptive weights for 80 classes, 3 levels, 640.
    assert head.loss_cls.loss_weight == pytest.approx(0.5)
    assert head.loss_bbox.loss_weight == pytest.approx(0.05)
    assert head.loss_obj.loss_weight == pytest.approx(1.0)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay, optimizer.nesterov,
            optimizer.batch_size_per_gpu) == ('SGD', 0.01, 0.937, 0.0005, True,
                                              16)
    assert cfg.optim_wrapper.constructor == 'YOLOv5OptimizerConstructor'
    assert cfg.param_scheduler is None
    assert cfg.default_hooks.param_scheduler.type == 'YOLOv5ParamSchedulerHook'
    assert cfg.default_hooks.param_scheduler.lr_factor == 0.01
    assert cfg.default_hooks.checkpoint.interval == 10
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 3
    # Hooks inherited from default_runtime.py are still there.
    assert cfg.default_hooks.logger == dict(type='LoggerHook', interval=50)
    assert cfg.custom_hooks == [
        dict(
            type='EMAHook',
            ema_type='ExpMomentumEMA',
            momentum=0.0001,
            update_buffers=True,
            strict_load=False,
            priority=49)
    ]
    assert cfg.val_dataloader.dataset.batch_shapes_cfg == dict(
        type='BatchShapePolicy',
        batch_size=1,
        img_size=640,
        size_divisor=32,
        extra_pad_ratio=0.5)
    assert cfg.val_evaluator.proposal_nums == (100, 1, 10)
    assert cfg.env_cfg.cudnn_benchmark is True
    assert cfg.train_cfg == dict(
        type='EpochBasedTrainLoop', max_epochs=300, val_interval=10)


def test_size_variants_scale_factors():
    """Spec 02 §1.2 and §1.5: deepen/widen, affine scale, lr_factor, MixUp."""
    expected = {
        'n': (0.33, 0.25),
        's': (0.33, 0.5),
        'm': (0.67, 0.75),
        'l': (1.0, 1.0),
        'x': (1.33, 1.25)
    }
    for size, (deepen, widen) in expected.items():
        for arch in ('v61', 'p6-v62'):
            cfg = _load(f'yolov5_{size}-{arch}_syncbn_fast_8xb16-300e_coco.py')
            model = cfg.model
            assert model.backbone.deepen_factor == deepen
            assert model.neck.deepen_factor == deepen
            assert model.backbone.widen_factor == widen
            assert model.neck.widen_factor == widen
            assert model.bbox_head.head_module.widen_factor == widen
            big = size in 'mlx'
            affine = next(t for t in cfg.train_pipeline
                          if t.type == 'YOLOv5RandomAffine')
            scale = 0.9 if big else 0.5
            assert affine.scaling_ratio_range == pytest.approx(
                (1 - scale, 1 + scale))
            types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
            assert ('YOLOv5MixUp' in types) == big
            assert cfg.default_hooks.param_scheduler.lr_factor == (0.1 if big
                                                                   else 0.01)
            levels = 4 if arch == 'p6-v62' else 3
            img = 1280 if levels == 4 else 640
            cls_w, obj_w = (0.3, 0.7) if big else (0.5, 1.0)
            # loss weights: w * 3 / levels, obj also * (img / 640) ** 2
            assert model.bbox_head.loss_cls.loss_weight == pytest.approx(
                cls_w * 3 / levels)
            assert model.bbox_head.loss_obj.loss_weight == pytest.approx(
                obj_w * (img / 640)**2 * 3 / levels)


def test_p6_values():
    """Spec 02 §1.3/§1.4/§1.6: P6 anchors, strides, level weights."""
    cfg = _load(P6_CONFIG)
    head = cfg.model.bbox_head
    assert cfg.model.backbone.arch == 'P6'
    assert head.prior_generator.strides == [8, 16, 32, 64]
    assert head.prior_generator.base_sizes[3] == [(436, 615), (739, 380),
                                                  (925, 792)]
    assert head.obj_level_weights == [4.0, 1.0, 0.25, 0.06]
    assert head.loss_bbox.loss_weight == pytest.approx(0.05 * 3 / 4)
    policy = cfg.val_dataloader.dataset.batch_shapes_cfg
    assert (policy.type, policy.img_size,
            policy.size_divisor) == ('BatchShapePolicy', 1280, 64)
    scales = [
        step.transforms[0].scale for step in cfg.tta_pipeline[1].transforms[0]
    ]
    assert scales == [(1280, 1280), (1024, 1024), (1536, 1536)]


def test_default_tta_is_three_scales_times_two_flips(tmp_path):
    """Spec 04 §2: det_p5_tta.py and the merge settings of DetTTAModel."""
    import cv2
    cfg = _load(P5_CONFIG)
    assert cfg.tta_model == dict(
        type='mmdet.DetTTAModel',
        tta_cfg=dict(
            nms=dict(type='nms', iou_threshold=0.65), max_per_img=300))
    tta = cfg.tta_pipeline[1]
    assert tta.type == 'TestTimeAug'
    resizes, flips, loads, packs = tta.transforms
    assert [r.transforms[0].scale for r in resizes] == [(640, 640), (320, 320),
                                                        (960, 960)]
    for r in resizes:
        keep_ratio, letter = r.transforms
        assert keep_ratio.type == 'YOLOv5KeepRatioResize'
        assert (letter.type, letter.allow_scale_up,
                letter.pad_val) == ('LetterResize', False, dict(img=114))
    assert [f.prob for f in flips] == [1.0, 0.0]
    assert len(resizes) * len(flips) * len(loads) * len(packs) == 6
    assert {'flip', 'flip_direction', 'pad_param'} <= set(packs[0].meta_keys)

    # Run it: one image gives 6 views, (scale, flip) in product order.
    img_path = str(tmp_path / 'synthetic.png')
    cv2.imwrite(img_path, np.full((150, 200, 3), 60, dtype=np.uint8))
    results = dict(img_path=img_path, img_id=0, instances=[])
    for step in cfg.tta_pipeline:
        results = TRANSFORMS.build(step)(results)
    assert len(results['inputs']) == 6
    shapes = [tuple(x.shape[1:]) for x in results['inputs']]
    assert shapes == [(640, 640)] * 2 + [(320, 320)] * 2 + [(960, 960)] * 2
    assert [s.flip for s in results['data_samples']] == [True, False] * 3


def test_detect_config_uses_deployment_settings():
    """Spec 01 §9.2: single LetterResize, multi_label off, 0.25 / 0.45."""
    cfg = _load('yolov5_s-v61_syncbn-detect_8xb16-300e_coco.py')
    assert cfg.model.test_cfg.multi_label is False
    assert cfg.model.test_cfg.score_thr == 0.25
    assert cfg.model.test_cfg.nms.iou_threshold == 0.45
    assert cfg.model.test_cfg.nms_pre == 30000  # the rest is inherited
    dataset = cfg.test_dataloader.dataset
    assert dataset.batch_shapes_cfg is None
    assert [t.type for t in dataset.pipeline] == [
        'LoadImageFromFile', 'LetterResize', 'LoadAnnotations',
        'mmdet.PackDetInputs'
    ]
    assert dataset.pipeline[1].allow_scale_up is True
    assert dataset.pipeline[1].use_mini_pad is True


def test_cat_configs_match_tutorial():
    """Spec 01 §4.3 and 04 §1: the cat tutorial and its variants."""
    cfg = _load('yolov5_s-v61_fast_1xb12-40e_cat.py')
    assert cfg.model.backbone.frozen_stages == 4
    assert cfg.model.bbox_head.head_module.num_classes == 1
    assert cfg.model.bbox_head.prior_generator.base_sizes[0] == [(68, 69),
                                                                 (154, 91),
                                                                 (143, 162)]
    assert cfg.train_dataloader.batch_size == 12
    assert cfg.train_dataloader.dataset.metainfo.classes == ('cat', )
    # _base_.optim_wrapper.optimizer.batch_size_per_gpu = 12 took effect.
    assert cfg.optim_wrapper.optimizer.batch_size_per_gpu == 12
    assert cfg.default_hooks.param_scheduler.warmup_mim_iter == 10
    assert cfg.default_hooks.param_scheduler.max_epochs == 40
    assert cfg.default_hooks.logger.interval == 5
    assert cfg.train_cfg.max_epochs == 40 and cfg.train_cfg.val_interval == 10
    assert cfg.val_evaluator.ann_file == './data/cat/annotations/test.json'

    ms = _load('yolov5_s-v61_fast_1xb12-ms-40e_cat.py')
    augment, = ms.model.data_preprocessor.batch_augments
    assert augment == dict(
        type='YOLOXBatchSyncRandomResize',
        random_size_range=(480, 800),
        size_divisor=32,
        interval=1)
    assert ms.model.data_preprocessor.pad_size_divisor == 32

    rect = _load('yolov5_s-v61_fast_1xb12-40e_608x352_cat.py')
    assert rect.model.bbox_head.loss_obj.loss_weight == pytest.approx(
        (352 / 640)**2)
    train_types = {t.type: t for t in rect.train_dataloader.dataset.pipeline}
    assert train_types['Mosaic'].img_scale == (608, 352)
    assert train_types['YOLOv5RandomAffine'].border == (-304, -176)
    assert rect.val_dataloader.dataset.batch_shapes_cfg is None


def test_voc_and_crowdhuman_values():
    voc = _load('voc/yolov5_s-v61_fast_1xb64-50e_voc.py')
    assert voc.train_dataloader.dataset.type == 'ConcatDataset'
    assert len(voc.train_dataloader.dataset.datasets) == 2
    # _delete_=True removed the COCO-only keys of the base dataloader.
    assert 'ann_file' not in voc.train_dataloader.dataset
    assert voc.val_evaluator == dict(
        type='mmdet.VOCMetric', metric='mAP', eval_mode='area')
    assert voc.model.bbox_head.prior_match_thr == pytest.approx(3.3744)
    assert voc.model.bbox_head.loss_obj.loss_weight == pytest.approx(
        0.51728 * (512 / 640)**2)
    for size, batch in [('n', 64), ('m', 64), ('l', 32), ('x', 32)]:
        cfg = _load(f'voc/yolov5_{size}-v61_fast_1xb{batch}-50e_voc.py')
        assert cfg.train_dataloader.batch_size == batch
        assert cfg.optim_wrapper.optimizer.batch_size_per_gpu == batch

    plain = _load('crowdhuman/yolov5_s-v61_fast_8xb16-300e_crowdhuman.py')
    assert plain.val_evaluator == dict(
        type='mmdet.CrowdHumanMetric',
        ann_file='data/crowdhuman/annotation_val.odgt',
        metric=['AP', 'MR', 'JI'])
    ignore = _load('crowdhuman/yolov5_s-v61_8xb16-300e_ignore_crowdhuman.py')
    assert ignore.model.bbox_head.ignore_iof_thr == 0.5
    # _delete_=True: no YOLOv5DetDataPreprocessor keys left over.
    assert ignore.model.data_preprocessor == dict(
        type='mmdet.DetDataPreprocessor',
        mean=[0., 0., 0.],
        std=[255., 255., 255.],
        bgr_to_rgb=True)
    assert ignore.train_dataloader.collate_fn.type == 'pseudo_collate'


# ----------------------------------------- data pipeline and registry names


@pytest.mark.parametrize('rel_path', CONFIG_FILES)
def test_data_configs_build(rel_path):
    """Every pipeline step builds; datasets and collate functions exist."""
    cfg = _load(rel_path)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        DATA_SAMPLERS.get(loader.sampler.type)
        if 'collate_fn' in loader:
            assert FUNCTIONS.get(loader.collate_fn.type) is not None, (
                f'{rel_path}: unknown collate_fn {loader.collate_fn.type}')
        DATASETS.get(loader.dataset.type)
        for dataset in _dataset_cfgs(loader):
            DATASETS.get(dataset.type)
            assert dataset.pipeline, f'{rel_path}: empty {split} pipeline'
            for step in dataset.pipeline:
                TRANSFORMS.build(step)
    if 'tta_pipeline' in cfg:
        for step in cfg.tta_pipeline:
            TRANSFORMS.build(step)
        MODELS.get(cfg.tta_model.type)


@pytest.mark.parametrize('rel_path', CONFIG_FILES)
def test_runtime_component_types_are_registered(rel_path):
    """Evaluators, hooks and the optimizer wrapper/constructor resolve."""
    cfg = _load(rel_path)
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        METRICS.get(evaluator.type)
    for hook in list(cfg.default_hooks.values()) + list(cfg.custom_hooks):
        HOOKS.get(hook.type)
        if 'ema_type' in hook:  # EMAHook builds its averaging model
            MODELS.get(hook.ema_type)
    OPTIM_WRAPPERS.get(cfg.optim_wrapper.type)
    OPTIM_WRAPPER_CONSTRUCTORS.get(cfg.optim_wrapper.constructor)


# ------------------------------------------------- loss and predict steps


def _training_sample(cfg: Config, img_hw: Tuple[int, int],
                     instances: List[dict]) -> dict:
    """One packed training sample, made with the config's own load and pack
    steps (the mix transforms before them need a dataset)."""
    load_annotations = TRANSFORMS.build(cfg.pre_transform[1])
    pack = TRANSFORMS.build(cfg.train_pipeline[-1])
    h, w = img_hw
    rng = np.random.default_rng(0)
    results = dict(
        img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        img_shape=(h, w),
        ori_shape=(h, w),
        img_id=0,
        img_path='synthetic.jpg',
        flip=False,
        flip_direction=None,
        instances=instances)
    return pack(load_annotations(results))


LOSS_CONFIGS = [
    P5_CONFIG,  # YOLOv5DetDataPreprocessor + yolov5_collate
    P6_CONFIG,
    'yolov5_s-v61_syncbn_8xb16-300e_coco.py',  # mmdet preprocessor + lists
    'crowdhuman/yolov5_s-v61_8xb16-300e_ignore_crowdhuman.py',  # ignores
]


@pytest.mark.parametrize('rel_path', LOSS_CONFIGS)
def test_loss_step(rel_path):
    cfg = _load(rel_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    size = max(128, _input_size(cfg))  # the boxes below fit in 128x128
    instances = [
        dict(bbox=[10., 12., 60., 70.], bbox_label=0, ignore_flag=0),
        dict(bbox=[70., 20., 120., 50.], bbox_label=0, ignore_flag=0),
        dict(bbox=[5., 80., 40., 120.], bbox_label=0, ignore_flag=1),
    ]
    batch = [
        _training_sample(cfg, (size, size), instances),
        _training_sample(cfg, (size, size), instances[:1]),
    ]
    collate_cfg = cfg.train_dataloader.get('collate_fn',
                                           dict(type='pseudo_collate'))
    collate_cfg = dict(collate_cfg)
    collate = FUNCTIONS.get(collate_cfg.pop('type'))
    data = model.data_preprocessor(collate(batch, **collate_cfg), True)
    assert data['inputs'].shape == (2, 3, size, size)

    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_obj', 'loss_bbox'}
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), (name, value)
        assert value >= 0, (name, value)
    # There are matched gt boxes, so objectness and box losses are positive.
    assert losses['loss_obj'] > 0 and losses['loss_bbox'] > 0
    total = sum(losses.values())
    total.backward()
    head_grads = [
        p.grad for p in model.bbox_head.head_module.parameters()
        if p.grad is not None
    ]
    assert head_grads and any(g.abs().sum() > 0 for g in head_grads)


PREDICT_CONFIGS = [
    P5_CONFIG,
    P6_CONFIG,
    'yolov5_s-v61_fast_1xb12-40e_608x352_cat.py',  # non-square letterbox
]


@pytest.mark.parametrize('rel_path', PREDICT_CONFIGS)
def test_predict_step_with_test_pipeline(rel_path, tmp_path):
    import cv2
    cfg = _load(rel_path)
    model = MODELS.build(cfg.model)
    # Zeroed prediction convs make every prior predict sigmoid(0) = 0.5 for
    # objectness and for each class, so every candidate scores
    # 0.5 * 0.5 = 0.25, well above score_thr, and NMS has plenty to keep.
    for conv in model.bbox_head.head_module.convs_pred:
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    model.eval()

    ori_h, ori_w = 150, 200
    rng = np.random.default_rng(0)
    img_path = str(tmp_path / 'synthetic.png')
    cv2.imwrite(img_path,
                rng.integers(0, 256, (ori_h, ori_w, 3), dtype=np.uint8))
    pipeline = [
        TRANSFORMS.build(step) for step in cfg.test_dataloader.dataset.pipeline
    ]
    results = dict(
        img_path=img_path,
        img_id=0,
        instances=[
            dict(bbox=[10., 10., 50., 60.], bbox_label=0, ignore_flag=0)
        ])
    for step in pipeline:
        results = step(results)
    data = model.data_preprocessor(pseudo_collate([results]), False)
    # Letterboxed to img_scale = (w, h), so the input is (h, w).
    img_w, img_h = cfg.img_scale
    assert data['inputs'].shape == (1, 3, img_h, img_w)

    with torch.no_grad():
        outputs = model(**data, mode='predict')
    assert len(outputs) == 1
    sample = outputs[0]
    assert tuple(sample.ori_shape) == (ori_h, ori_w)
    pred = sample.pred_instances
    num = len(pred)
    test_cfg = cfg.model.test_cfg
    num_classes = cfg.model.bbox_head.head_module.num_classes
    assert 0 < num <= test_cfg.max_per_img
    if num_classes > 1:
        # 80 classes x thousands of priors: far more than 300 survive NMS.
        assert num == test_cfg.max_per_img
    assert pred.bboxes.shape == (num, 4)
    assert pred.scores.shape == (num, ) and pred.labels.shape == (num, )
    assert torch.allclose(pred.scores, torch.full((num, ), 0.25))
    assert ((pred.labels >= 0) & (pred.labels < num_classes)).all()
    # Rescaled to the original image and clamped to it.
    assert math.isfinite(float(pred.bboxes.sum()))
    assert pred.bboxes[:, 0::2].min() >= 0
    assert pred.bboxes[:, 0::2].max() <= ori_w
    assert pred.bboxes[:, 1::2].min() >= 0
    assert pred.bboxes[:, 1::2].max() <= ori_h
