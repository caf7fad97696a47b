"""Whole YOLOv6 detectors reproduce MMYOLO 0.6.0: raw outputs, predicted
boxes and both training phases' losses.

Reference: MMYOLO 0.6.0's own model code (``mmyolo_reference``), built from
the ``model`` dict of MMYOLO's shipped config of the same name, with the
same random state_dict loaded into both. One v2.0 config (yolov6_n, Rep-PAN
neck, SIoU) and one v3.0 config (yolov6_v3_n, Rep-BiPAN neck with four
backbone outputs) are checked; v3-m/l only add the distance distribution,
which ``test_yolov6_head.py`` checks against MMYOLO's head module.

The loss phases: MMYOLO's head reads the epoch from mmengine's MessageHub
(``'epoch'``); epochs below ``train_cfg.initial_epoch`` (4) use
BatchATSSAssigner, later ones BatchTaskAlignedAssigner.

Tolerances: both run the same float32 operations on CPU, except where the
order of reductions may differ (IoU sums, softmax expectations), so raw
outputs, boxes and losses are compared at rtol 1e-5 / atol 1e-5 (boxes
atol 1e-3 px on a 96 x 128 input).
"""
import os.path as osp

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from yolokit.registry import MODELS

MMYOLO_CONFIG_DIR = osp.join(
    osp.dirname(__file__), '..', '..', '.venv', 'reference', 'mmyolo-0.6.0',
    'mmyolo', '.mim', 'configs', 'yolov6')
CONFIGS = ('yolov6_n_syncbn_fast_8xb32-400e_coco',
           'yolov6_v3_n_syncbn_fast_8xb32-300e_coco')
INPUT_HW = (96, 128)
TOL = dict(rtol=1e-5, atol=1e-5)


def _model_cfg(name: str):
    path = osp.join(MMYOLO_CONFIG_DIR, name + '.py')
    if not osp.exists(path):
        pytest.skip(f'MMYOLO 0.6.0 config {path} not found (see the '
                    '`mmyolo_reference` fixture in tests/conftest.py)')
    from mmengine.config import Config
    # a ConfigDict: MMYOLO's head reads train_cfg by attribute
    cfg = Config.fromfile(path).model
    cfg.pop('data_preprocessor')  # the tests feed normalised tensors
    return cfg


@pytest.fixture(scope='module', params=CONFIGS)
def pair(request, mmyolo_reference):
    cfg = _model_cfg(request.param)
    torch.manual_seed(0)
    ours = MODELS.build(cfg)
    theirs = mmyolo_reference.build_model(cfg)
    # random BN statistics too, so eval mode is not an identity for BN
    state = {
        k: (torch.rand_like(v) +
            0.5 if 'running_var' in k else torch.randn_like(v) *
            0.1) if v.is_floating_point() else v
        for k, v in theirs.state_dict().items()
    }
    # lift the class biases so that some boxes pass score_thr, and the
    # distances to ~3 strides so that predicted boxes overlap the GTs (ATSS
    # scales its targets by that IoU; all-zero targets would hide the box
    # loss)
    for k in state:
        if k.endswith('bias') and 'cls_preds' in k:
            state[k] = state[k] + 1.0
        elif k.endswith('bias') and 'reg_preds' in k:
            state[k] = state[k] + 3.0
    theirs.load_state_dict(state)
    ours.load_state_dict(state)
    return request.param, ours, theirs


def _batch():
    g = torch.Generator().manual_seed(1)
    inputs = torch.rand(2, 3, *INPUT_HW, generator=g)
    gts = [
        InstanceData(
            bboxes=torch.tensor([[10., 12., 60., 70.], [70., 20., 120., 90.]]),
            labels=torch.tensor([3, 17])),
        InstanceData(
            bboxes=torch.tensor([[30., 30., 50., 44.]]),
            labels=torch.tensor([0])),
    ]
    metas = [
        dict(
            img_shape=INPUT_HW,
            ori_shape=(48, 64),
            scale_factor=(2.0, 2.0),
            pad_param=[0., 0., 0., 0.]) for _ in range(2)
    ]
    return inputs, gts, metas


def _assert_close_seq(a, b, **tol):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, **tol)


def test_raw_outputs_and_boxes_match(pair):
    name, ours, theirs = pair
    inputs, _, metas = _batch()
    ours.eval(), theirs.eval()
    with torch.no_grad():
        out_ours = ours._forward(inputs)
        out_theirs = theirs._forward(inputs)
        for a, b in zip(out_ours, out_theirs):
            _assert_close_seq(a, b, **TOL)
        dets_ours = ours.bbox_head.predict_by_feat(
            *out_ours, batch_img_metas=metas, rescale=True)
        dets_theirs = theirs.bbox_head.predict_by_feat(
            *out_theirs, batch_img_metas=metas, rescale=True)
    assert sum(len(d) for d in dets_theirs) > 0, f'{name}: no detections'
    for a, b in zip(dets_ours, dets_theirs):
        torch.testing.assert_close(a.bboxes, b.bboxes, rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(a.scores, b.scores, **TOL)
        assert torch.equal(a.labels, b.labels)


@pytest.mark.parametrize('epoch', [0, 10], ids=['atss_epoch', 'tal_epoch'])
def test_losses_match(pair, epoch):
    name, ours, theirs = pair
    inputs, gts, metas = _batch()
    hub = MessageHub.get_current_instance()
    previous = hub.get_info('epoch')
    hub.update_info('epoch', epoch)
    try:
        ours.train(), theirs.train()
        losses = []
        for model in (ours, theirs):
            outs = model._forward(inputs)
            losses.append(
                model.bbox_head.loss_by_feat(*outs, [g.clone() for g in gts],
                                             metas))
    finally:
        hub.update_info('epoch', previous)
    ours_l, theirs_l = losses
    assert set(ours_l) == set(theirs_l) == {'loss_cls', 'loss_bbox'}
    for key in theirs_l:
        assert theirs_l[key] > 0, f'{name} {key}: reference loss is 0'
        torch.testing.assert_close(ours_l[key], theirs_l[key], **TOL)
