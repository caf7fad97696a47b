"""YOLOv7 in yolokit computes what MMYOLO 0.6.0 computes.

The oracle is MMYOLO's own YOLOv7 code (the ``mmyolo_reference`` fixture),
built from the same ``model`` dict of the shipped config and given one
state_dict (random weights and BN statistics). Compared: raw head maps of
the tiny model (LeakyReLU, tiny ELAN, SPPCSPC-tiny, plain out convs), of
the P6 w6 model (Focus, ImplicitA/M after a 3x3 conv), the predicted
boxes of the tiny model, and the training losses (simOTA assignment, the
three terms) of the tiny model and of w6 with its auxiliary branches.
"""
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config

from yolokit.registry import MODELS

CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'yolov7')
ATOL = 1e-5  # float32, identical op order: only summation-order noise


def _randomise(model: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)


def _pair(mmyolo_reference, config: str):
    # a ConfigDict: MMYOLO's head reads test_cfg by attribute
    model_cfg = Config.fromfile(osp.join(CONFIG_DIR, config)).model
    ours = MODELS.build(model_cfg).eval()
    theirs = mmyolo_reference.build_model(model_cfg).eval()
    _randomise(ours)
    missing, unexpected = theirs.load_state_dict(
        ours.state_dict(), strict=True)
    assert not missing and not unexpected
    return ours, theirs


@pytest.fixture(scope='module')
def tiny(mmyolo_reference):
    return _pair(mmyolo_reference,
                 'yolov7_tiny_syncbn_fast_8x16b-300e_coco.py')


def _compare_tensor_outputs(ours, theirs, size: int) -> None:
    image = torch.rand(
        2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = ours(image, mode='tensor')
        want = theirs(image, mode='tensor')
    for kind, got_levels, want_levels in zip(('cls', 'box', 'obj'), got, want):
        assert len(got_levels) == len(want_levels)
        for g, w in zip(got_levels, want_levels):
            assert g.shape == w.shape, kind
            torch.testing.assert_close(g, w, atol=ATOL, rtol=1e-5)


def test_tiny_raw_outputs(tiny):
    _compare_tensor_outputs(*tiny, size=96)


def test_w6_raw_outputs(mmyolo_reference):
    ours, theirs = _pair(mmyolo_reference,
                         'yolov7_w-p6_syncbn_fast_8x16b-300e_coco.py')
    _compare_tensor_outputs(ours, theirs, size=128)


def test_tiny_predict(tiny):
    ours, theirs = tiny
    # make objectness/class logits large enough that some boxes pass 0.001
    image = torch.rand(
        1, 3, 128, 96, generator=torch.Generator().manual_seed(2)) * 255
    meta = dict(
        img_shape=(128, 96),
        ori_shape=(64, 48),
        scale_factor=(2., 2.),
        pad_param=[0., 0., 0., 0.],
        batch_input_shape=(128, 96))
    with torch.no_grad():
        got = ours(image, [DetDataSample(metainfo=meta)], mode='predict')
        want = theirs(image, [DetDataSample(metainfo=meta)], mode='predict')
    got, want = got[0].pred_instances, want[0].pred_instances
    assert len(want.bboxes) > 0, 'no detections: the comparison is empty'
    assert len(got.bboxes) == len(want.bboxes)
    torch.testing.assert_close(got.bboxes, want.bboxes, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(got.scores, want.scores, atol=1e-5, rtol=1e-4)
    assert torch.equal(got.labels, want.labels)


def _loss_batch(size: int, num_classes: int = 80):
    """Two images with 4 and 2 GT boxes (one GT-less image would also be
    fine; both images get some so both simOTA loops run)."""
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, size, size, generator=gen)
    samples = []
    for num in (4, 2):
        xy = torch.rand(num, 2, generator=gen) * size * 0.6
        wh = torch.rand(num, 2, generator=gen) * size * 0.35 + size * 0.05
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                batch_input_shape=(size, size)))
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(num_classes, (num, ), generator=gen))
        samples.append(sample)
    return image, samples


def _compare_losses(ours, theirs, size: int) -> None:
    image, samples = _loss_batch(size)
    ours.train()
    theirs.train()
    got = ours(image, samples, mode='loss')
    want = theirs(image, samples, mode='loss')
    assert sorted(got) == sorted(want) == ['loss_bbox', 'loss_cls', 'loss_obj']
    for key in want:
        # float32 sums over a few hundred positives in another order
        torch.testing.assert_close(
            got[key].reshape(()),
            want[key].reshape(()),
            atol=1e-5,
            rtol=1e-5,
            msg=lambda m: f'{key}: {m}')
        assert want[key].item() > 0, f'{key} is 0: nothing compared'


def test_tiny_losses(tiny):
    _compare_losses(*tiny, size=96)


def test_w6_losses_with_aux_branches(mmyolo_reference):
    ours, theirs = _pair(mmyolo_reference,
                         'yolov7_w-p6_syncbn_fast_8x16b-300e_coco.py')
    assert ours.bbox_head.head_module.use_aux
    _compare_losses(ours, theirs, size=128)
