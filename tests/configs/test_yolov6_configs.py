"""The shipped YOLOv6 configs load, build MMYOLO's exact model, train one
step and predict (their ``--deploy`` fusion is tested in
tests/models/test_repvgg_deploy_fusion.py).

References: the spec's ``module_trees/yolov6/<name>.txt`` (shipped with the
tests as ``tests/data/module_trees.json.gz``), the module tree and
state_dict layout MMYOLO v0.6.0 builds from the config of the same name;
MMYOLO 0.6.0's own config files (``.mim/configs/yolov6``), which every
yolokit config must equal value for value (only ``default_scope`` differs).
"""
import glob
import os.path as osp
from typing import Dict

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import FUNCTIONS

from yolokit.registry import MODELS, TRANSFORMS
from yolokit.testing.config_components import check_config_components
from yolokit.testing.module_tree import tree_differences

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'yolov6')
CONFIG_FILES = sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))
MMYOLO_CONFIG_DIR = osp.join(REPO_ROOT, '.venv', 'reference', 'mmyolo-0.6.0',
                             'mmyolo', '.mim', 'configs', 'yolov6')

# Configs allowed to have no module tree, each with the reason: only
# configs MMYOLO v0.6.0 did not ship (so no reference tree exists).
CONFIGS_WITHOUT_TREE: Dict[str, str] = {}

INPUT_HW = (64, 96)


def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_all_configs_are_there(module_trees):
    trees = [rel + '.py' for rel in module_trees.names('yolov6')]
    assert trees == sorted(set(CONFIG_FILES) - set(CONFIGS_WITHOUT_TREE))
    assert len(CONFIG_FILES) == 14


@pytest.mark.parametrize('name', CONFIG_FILES)
def test_config_equals_mmyolo(name):
    path = osp.join(MMYOLO_CONFIG_DIR, name)
    if not osp.exists(path):
        pytest.skip(f'MMYOLO 0.6.0 config {path} not found (see the '
                    '`mmyolo_reference` fixture in tests/conftest.py)')
    ours = _load(name).to_dict()
    theirs = Config.fromfile(path).to_dict()
    assert ours.pop('default_scope') == 'yolokit'
    assert theirs.pop('default_scope') == 'mmyolo'
    assert ours == theirs


@pytest.fixture(scope='module', params=CONFIG_FILES)
def built(request):
    name = request.param
    cfg = _load(name)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    yield name, cfg, model
    del model


def test_model_matches_module_tree(built, module_trees):
    name, cfg, model = built
    tree = 'yolov6/' + osp.splitext(name)[0]
    if name in CONFIGS_WITHOUT_TREE:
        assert tree not in module_trees, f'{name} has a tree: compare it'
        pytest.skip(f'{name} has no module tree to compare with: '
                    f'{CONFIGS_WITHOUT_TREE[name]}')
    assert tree in module_trees, f'{name}: no module tree {tree!r}'
    problems = tree_differences(model, module_trees[tree])
    assert not problems, f'{name}:\n' + '\n'.join(problems)


def _fast_batch(num_classes: int):
    """The fast layout of ``yolov5_collate``: (img_idx, label, x1y1x2y2)."""
    rows = torch.tensor([[0., 0., 8., 10., 40., 50.],
                         [0., 0., 50., 4., 90., 40.],
                         [1., 0., 20., 20., 44., 60.]])
    rows[:, 1] = torch.tensor([0, num_classes - 1, 0]).float()
    metas = [
        dict(
            img_shape=INPUT_HW,
            ori_shape=INPUT_HW,
            scale_factor=(1., 1.),
            pad_param=[0., 0., 0., 0.])
    ] * 2
    return dict(bboxes_labels=rows, img_metas=metas)


def test_loss_step(built):
    """One backward step on a 64 x 96 batch. initial_epoch is 4 in every
    config; to keep this cheap each config runs one phase, alternating over
    the sorted names (so v2 and v3, small and large, see both): ATSS at
    epoch 0 or task-aligned at epoch 4."""
    name, cfg, model = built
    epoch = 0 if CONFIG_FILES.index(name) % 2 == 0 else 4
    assert cfg.model.train_cfg.initial_epoch == 4
    hub = MessageHub.get_current_instance()
    previous = hub.get_info('epoch')
    hub.update_info('epoch', epoch)
    try:
        model.train()
        inputs = torch.rand(
            2, 3, *INPUT_HW, generator=torch.Generator().manual_seed(0))
        num_classes = cfg.model.bbox_head.head_module.num_classes
        losses = model(inputs, _fast_batch(num_classes), mode='loss')
    finally:
        hub.update_info('epoch', previous)
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value) and value > 0, key
    model.zero_grad()
    sum(losses.values()).backward()
    # after init_weights the prediction convs are zero, so the gradient
    # reaches only them in the first step
    grads = [
        p.grad for p in model.bbox_head.head_module.parameters()
        if p.grad is not None
    ]
    assert grads and any(g.abs().sum() > 0 for g in grads), name


def test_predict_step(built):
    from mmdet.structures import DetDataSample
    name, cfg, model = built
    model.eval()
    sample = DetDataSample(
        metainfo=dict(
            img_shape=INPUT_HW,
            ori_shape=(32, 48),
            scale_factor=(2., 2.),
            pad_param=[0., 0., 0., 0.]))
    # a low threshold so the freshly initialised model keeps boxes to check
    model.bbox_head.test_cfg['score_thr'] = 0.0
    try:
        with torch.no_grad():
            result, = model(
                torch.rand(1, 3, *INPUT_HW), [sample], mode='predict')
    finally:
        model.bbox_head.test_cfg['score_thr'] = cfg.model.test_cfg.score_thr
    pred = result.pred_instances
    assert 0 < len(pred) <= cfg.model.test_cfg.max_per_img
    # rescaled to the 32 x 48 original image and clamped to it
    assert pred.bboxes.min() >= 0
    assert pred.bboxes[:, 0::2].max() <= 48
    assert pred.bboxes[:, 1::2].max() <= 32
    num_classes = cfg.model.bbox_head.head_module.num_classes
    assert ((pred.labels >= 0) & (pred.labels < num_classes)).all()


# ----------------------------------------- data pipeline and registry names


@pytest.mark.parametrize('name', CONFIG_FILES)
def test_components_are_registered(name):
    cfg = _load(name)
    assert 'tta_model' in cfg and 'tta_pipeline' in cfg
    check_config_components(cfg)


def test_stage2_pipeline_through_preprocessor_and_loss():
    """yolov6_n's closing-epochs pipeline (no Mosaic) on a synthetic image,
    ``yolov5_collate``, the data preprocessor, then the loss at 640 px."""
    cfg = _load('yolov6_n_syncbn_fast_8xb32-400e_coco.py')
    torch.manual_seed(0)
    np.random.seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    batch = []
    for seed in range(2):
        results = dict(
            img=np.random.default_rng(seed).integers(
                0, 256, (96, 128, 3), dtype=np.uint8),
            img_shape=(96, 128),
            ori_shape=(96, 128),
            img_id=seed,
            img_path='synthetic.jpg',
            instances=[
                dict(bbox=[10., 12., 60., 70.], bbox_label=3, ignore_flag=0),
                dict(bbox=[70., 20., 120., 60.], bbox_label=7, ignore_flag=0)
            ])
        for step in cfg.custom_hooks[1].switch_pipeline:
            if step.type != 'LoadImageFromFile':
                results = TRANSFORMS.build(step)(results)
        batch.append(results)
    collate = FUNCTIONS.get(cfg.train_dataloader.collate_fn.type)
    data = model.data_preprocessor(collate(batch), True)
    assert data['inputs'].shape == (2, 3, 640, 640)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    assert all(torch.isfinite(v) for v in losses.values())


# ------------------------------------------------------ documented values


def test_size_and_version_settings():
    """Facts of MMYOLO's configs the README relies on."""
    expected = {
        # name: (deepen, widen, box IoU mode, reg_max)
        'yolov6_n_syncbn_fast_8xb32-400e_coco.py': (0.33, 0.25, 'siou', 0),
        'yolov6_t_syncbn_fast_8xb32-400e_coco.py': (0.33, 0.375, 'siou', 0),
        'yolov6_s_syncbn_fast_8xb32-400e_coco.py': (0.33, 0.5, 'giou', 0),
        'yolov6_m_syncbn_fast_8xb32-300e_coco.py': (0.6, 0.75, 'giou', 0),
        'yolov6_l_syncbn_fast_8xb32-300e_coco.py': (1, 1, 'giou', 0),
        'yolov6_v3_n_syncbn_fast_8xb32-300e_coco.py': (0.33, 0.25, 'siou', 0),
        'yolov6_v3_m_syncbn_fast_8xb32-300e_coco.py': (0.6, 0.75, 'giou', 16),
        'yolov6_v3_l_syncbn_fast_8xb32-300e_coco.py': (1, 1, 'giou', 16),
    }
    for name, (deepen, widen, iou_mode, reg_max) in expected.items():
        model = _load(name).model
        assert model.backbone.deepen_factor == deepen, name
        assert model.backbone.widen_factor == widen, name
        assert model.bbox_head.head_module.widen_factor == widen, name
        assert model.bbox_head.loss_bbox.iou_mode == iou_mode, name
        assert model.bbox_head.head_module.get('reg_max', 0) == reg_max, name
    v3 = _load('yolov6_v3_s_syncbn_fast_8xb32-300e_coco.py')
    assert v3.model.neck.type == 'YOLOv6RepBiPAFPN'
    assert v3.model.backbone.use_cspsppf is True
    cat = _load('yolov6_s_fast_1xb12-40e_cat.py')
    assert cat.model.bbox_head.head_module.num_classes == 1
    assert 'tta_model' in _load(
        'yolov6_s_syncbn_fast_8xb32-400e_coco.py') and 'tta_model' in v3


def test_metafile():
    """Every entry names an existing config of the same name and an
    upstream checkpoint; results are marked as upstream."""
    from mmengine.fileio import load
    meta = load(osp.join(CONFIG_DIR, 'metafile.yml'))
    names = [m['Name'] for m in meta['Models']]
    assert len(names) == len(set(names))
    for model in meta['Models']:
        name = model['Name']
        assert model['In Collection'] == 'YOLOv6'
        assert model['Config'] == f'configs/yolov6/{name}.py'
        assert osp.basename(model['Config']) in CONFIG_FILES
        assert model['Weights'].startswith(
            'https://download.openmmlab.com/mmyolo/v0/yolov6/')
        assert 'upstream' in model['Metadata']['Results Source']
        assert model['Results'][0]['Metrics']['box AP'] > 30
