"""The whole PP-YOLOE+-s detector of yolokit computes what MMYOLO 0.6.0
computes: data preprocessing, raw outputs, predicted boxes and the losses of
both assignment phases.

Reference: MMYOLO 0.6.0's own model code (``mmyolo_reference``), built from
the ``model`` dict of ``configs/ppyoloe/ppyoloe_plus_s_fast_8xb8-80e_coco.py``
(identical to MMYOLO's shipped file, see ``test_ppyoloe_configs.py``), with
one random state_dict loaded into both. The only change to the dict is a
smaller multi-scale range (64-160 px instead of 320-800) to keep the test
fast.

Loss phases: the head reads the runner's epoch from mmengine's MessageHub;
below ``train_cfg.initial_epoch`` (30) BatchATSSAssigner assigns, from then
on BatchTaskAlignedAssigner.

``loss_dfl`` is the one deliberate difference. MMYOLO's ``loss_by_feat``
permutes the bin logits as if they were ``(B, R + 1, H * W, 4)`` (the layout
its docstring states), but its head module emits ``(B, H * W, 4, R + 1)``,
so prior ``p``'s targets meet other priors' logits. yolokit reads the
emitted layout. The oracle for yolokit's ``loss_dfl`` is therefore MMYOLO's
own ``loss_by_feat`` given the logits in its documented layout; that MMYOLO's
end-to-end value really differs is asserted too, so the README's statement
stays true.

Tolerances: the same float32 CPU operations run in both, up to the order of
some reductions: raw maps, scores and losses rtol 1e-5 / atol 1e-5, boxes
atol 1e-3 px, gradients of loss_cls + loss_bbox within 1e-4 of each
tensor's largest; the preprocessed batch must be bit-identical.
"""
import copy
import os.path as osp
import random

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from yolokit.registry import MODELS

CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'ppyoloe', 'ppyoloe_plus_s_fast_8xb8-80e_coco.py')
TOL = dict(rtol=1e-5, atol=1e-5)


def _model_cfg():
    # a ConfigDict: MMYOLO's head reads train_cfg by attribute
    cfg = Config.fromfile(CONFIG).model
    cfg.data_preprocessor.batch_augments[0].random_size_range = (64, 160)
    return cfg


@pytest.fixture(scope='module')
def pair(mmyolo_reference):
    cfg = _model_cfg()
    torch.manual_seed(0)
    ours = MODELS.build(cfg)
    theirs = mmyolo_reference.build_model(cfg)
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, value in theirs.state_dict().items():
        if not value.is_floating_point():
            state[key] = value
        elif 'running_var' in key:  # eval-mode BN must not be an identity
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(value.shape, generator=gen) * 0.1
    # positive class logits so boxes pass score_thr 0.01, and ~3-stride
    # distances (bias 3 on all 17 bins is still uniform: lift the low bins)
    # so predicted boxes overlap the GTs and ATSS's IoU-scaled targets are
    # not all zero
    for key in state:
        if key.endswith('bias') and 'cls_preds' in key:
            state[key] = state[key] + 1.0
        elif key.endswith('bias') and 'reg_preds' in key:
            bins = state[key].view(4, -1)
            bins[:, :5] += 2.0
    ours.load_state_dict(state, strict=True)
    theirs.load_state_dict(state, strict=True)
    return ours, theirs, state


def _restore(pair):
    """Fresh weights and BN statistics (train-mode forwards move them)."""
    ours, theirs, state = pair
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    return ours, theirs


def _collated_batch():
    """What ``yolov5_collate(use_ms_training=True)`` gives for two images of
    different sizes: uint8 BGR CHW tensors and the (N, 6) GT rows."""
    gen = torch.Generator().manual_seed(1)
    images = [
        torch.randint(0, 256, (3, 120, 96), generator=gen, dtype=torch.uint8),
        torch.randint(0, 256, (3, 80, 128), generator=gen, dtype=torch.uint8)
    ]
    rows = torch.tensor([[0, 3, 10., 12., 60., 70.],
                         [0, 17, 40., 50., 90., 110.],
                         [1, 0, 30., 20., 70., 50.]])
    return dict(
        inputs=images,
        data_samples=dict(bboxes_labels=rows, img_metas=[{}, {}]))


def _preprocess(model, seed: int) -> dict:
    MessageHub.get_current_instance().update_info('iter', 0)
    random.seed(seed)
    torch.manual_seed(seed)
    return model.data_preprocessor(_collated_batch(), training=True)


@pytest.fixture
def epoch():
    """Set the runner epoch in the MessageHub; restore it afterwards."""
    hub = MessageHub.get_current_instance()
    previous = hub.get_info('epoch')
    yield lambda value: hub.update_info('epoch', value)
    hub.update_info('epoch', previous)


def test_preprocessed_batch_is_identical(pair):
    ours, theirs = _restore(pair)
    got, want = _preprocess(ours, 3), _preprocess(theirs, 3)
    torch.testing.assert_close(got['inputs'], want['inputs'], rtol=0, atol=0)
    side = got['inputs'].shape[-1]
    assert got['inputs'].shape == (2, 3, side, side) and side % 32 == 0
    torch.testing.assert_close(got['data_samples']['bboxes_labels'],
                               want['data_samples']['bboxes_labels'],
                               rtol=0,
                               atol=0)


@pytest.mark.parametrize('training', [False, True], ids=['eval', 'train'])
def test_raw_outputs_match(pair, training):
    ours, theirs = _restore(pair)
    ours.train(training), theirs.train(training)
    image = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = ours(image, mode='tensor')
        want = theirs(image, mode='tensor')
    assert len(got) == len(want) == (3 if training else 2)
    for got_levels, want_levels in zip(got, want):
        assert len(got_levels) == len(want_levels) == 3
        for g, w in zip(got_levels, want_levels):
            assert g.shape == w.shape
            torch.testing.assert_close(g, w, **TOL)


def test_predicted_boxes_match(pair):
    from mmdet.structures import DetDataSample
    ours, theirs = _restore(pair)
    ours.eval(), theirs.eval()
    # the test pipeline's FixShapeResize: no padding, per-axis scales
    meta = dict(
        img_shape=(96, 128),
        ori_shape=(150, 100),
        scale_factor=(128 / 100, 96 / 150),
        batch_input_shape=(96, 128))
    image = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        got, = ours(image, [DetDataSample(metainfo=meta)], mode='predict')
        want, = theirs(image, [DetDataSample(metainfo=meta)], mode='predict')
    got, want = got.pred_instances, want.pred_instances
    assert len(want) > 10, 'too few detections to compare'
    assert len(got) == len(want)
    torch.testing.assert_close(got.bboxes, want.bboxes, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(got.scores, want.scores, **TOL)
    assert torch.equal(got.labels, want.labels)


@pytest.mark.parametrize('phase_epoch', [0, 30], ids=['atss', 'tal'])
def test_losses_match(pair, epoch, phase_epoch):
    ours, theirs = _restore(pair)
    epoch(phase_epoch)
    ours.train(), theirs.train()
    data = _preprocess(ours, 5)
    inputs = data['inputs']
    rows = data['data_samples']['bboxes_labels']
    metas = data['data_samples']['img_metas']
    got = ours(inputs, copy.deepcopy(data['data_samples']), mode='loss')
    want = theirs(inputs, copy.deepcopy(data['data_samples']), mode='loss')
    assert set(got) == set(want) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    for key in ('loss_cls', 'loss_bbox'):
        assert want[key] > 0, f'{key}: the reference loss is 0'
        torch.testing.assert_close(got[key], want[key], **TOL)
    # the same gradients too (nothing detached differently), up to 1e-4 of
    # each tensor's largest gradient
    ours.zero_grad(), theirs.zero_grad()
    (got['loss_cls'] + got['loss_bbox']).backward()
    (want['loss_cls'] + want['loss_bbox']).backward()
    ref_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        ref_grad = ref_params[name].grad
        assert param.grad is not None and ref_grad is not None, name
        scale = ref_grad.abs().max().item()
        assert (param.grad - ref_grad).abs().max() <= 1e-4 * scale + 1e-12, \
            name

    # MMYOLO's loss_by_feat fed the bin logits in its documented
    # (B, R + 1, H * W, 4) layout: the DFL with the right logits per prior
    theirs.load_state_dict(pair[2])
    head = theirs.bbox_head
    cls_scores, bbox_preds, dists = head(theirs.extract_feat(inputs))
    documented = head.loss_by_feat(cls_scores, bbox_preds,
                                   [d.permute(0, 3, 1, 2) for d in dists],
                                   rows.clone(), metas)
    assert documented['loss_dfl'] > 0
    torch.testing.assert_close(got['loss_dfl'], documented['loss_dfl'], **TOL)
    torch.testing.assert_close(documented['loss_cls'], want['loss_cls'], **TOL)
    # ... which is not what MMYOLO computes end to end (its logits mix-up)
    assert not torch.isclose(got['loss_dfl'], want['loss_dfl'], rtol=1e-3)
