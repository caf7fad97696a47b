"""The shipped YOLOv7 configs load, build MMYOLO's exact model and predict.

Every ``configs/yolov7/*.py`` is discovered by glob; the reference for each
built model is the spec's ``module_trees/yolov7/<name>.txt`` (the module
tree and state_dict layout MMYOLO v0.6.0 builds from the same config), so
MMYOLO's YOLOv7 checkpoints load unchanged. Each model also runs one
training step (loss and backward) on a small batch.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from yolokit.registry import MODELS
from yolokit.testing.module_tree import tree_differences

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'yolov7')
CONFIG_FILES = sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))


def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_all_configs_are_there(module_trees):
    # MMYOLO 0.6.0 ships eight YOLOv7 configs, all with a tree
    trees = [rel + '.py' for rel in module_trees.names('yolov7')]
    assert trees == CONFIG_FILES
    assert len(CONFIG_FILES) == 8


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
    tree = 'yolov7/' + osp.splitext(name)[0]
    assert tree in module_trees, f'{name}: no module tree {tree!r}'
    problems = tree_differences(model, module_trees[tree])
    assert not problems, f'{name}:\n' + '\n'.join(problems)


def test_forward_and_predict(built):
    # P5 models at 64 px, P6 (stride 64) at 128 px: one 1x1 map at the top
    name, cfg, model = built
    head = cfg.model.bbox_head
    strides = head.head_module.get('featmap_strides', [8, 16, 32])
    size = 2 * strides[-1]
    num_classes = head.head_module.num_classes
    model.eval()
    image = torch.rand(1, 3, size, size)
    with torch.no_grad():
        cls_scores, bbox_preds, objectnesses = model(image, mode='tensor')
    for stride, cls, box, obj in zip(strides, cls_scores, bbox_preds,
                                     objectnesses):
        side = size // stride
        assert cls.shape == (1, 3 * num_classes, side, side)
        assert box.shape == (1, 12, side, side)
        assert obj.shape == (1, 3, side, side)
    from mmdet.structures import DetDataSample
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(size, size),
            ori_shape=(size, size),
            scale_factor=(1., 1.),
            pad_param=[0., 0., 0., 0.]))
    with torch.no_grad():
        result = model(image, [sample], mode='predict')[0].pred_instances
    assert result.bboxes.shape[1:] == (4, )
    assert len(result.bboxes) == len(result.scores) == len(result.labels)
    if len(result.bboxes):
        # boxes are clamped to the (ori_shape) image
        assert result.bboxes.min() >= 0 and result.bboxes.max() <= size


def test_one_training_step(built):
    # P5 at 64 px, P6 at 128 px; one image with two GT boxes (labels 0,
    # the single-class config has no other)
    name, cfg, model = built
    size = 2 * cfg.model.bbox_head.head_module.get('featmap_strides',
                                                   [8, 16, 32])[-1]
    from mmdet.structures import DetDataSample
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(size, size),
            ori_shape=(size, size),
            batch_input_shape=(size, size)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[4., 4., 40., 40.], [20., 8., 60., 50.]]) * size /
        64,
        labels=torch.tensor([0, 0]))
    model.train()
    image = torch.rand(
        1, 3, size, size, generator=torch.Generator().manual_seed(0))
    losses = model(image, [sample], mode='loss')
    assert sorted(losses) == ['loss_bbox', 'loss_cls', 'loss_obj']
    total = sum(losses.values())
    assert torch.isfinite(total) and losses['loss_bbox'] > 0, losses
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), 'a parameter got no gradient'
    model.zero_grad(set_to_none=True)
