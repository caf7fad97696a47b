"""Tests of PPYOLOEDetDataPreprocessor.

Facts (spec 06 §2, MMYOLO 0.6.0 configs/ppyoloe): in training the inputs
are the list of CHW images of ``yolov5_collate(use_ms_training=True)``,
channels are reversed and cast to float, ``batch_augments`` run on the
0-255 values, and ``(x - mean) / std`` comes last. MMYOLO ships no
``ppyoloe_collate``: its PP-YOLOE configs set
``collate_fn=dict(type='yolov5_collate', use_ms_training=True)``.
"""
import copy
import os.path as osp
import random

import pytest
import torch
import torch.nn as nn
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmengine import MessageHub
from mmengine.registry import FUNCTIONS
from mmengine.structures import InstanceData

from yolokit.models.data_preprocessors import PPYOLOEDetDataPreprocessor
from yolokit.registry import MODELS

# data_preprocessor of MMYOLO 0.6.0's ppyoloe_plus_s_fast_8xb8-80e_coco.py,
# with a small size range (64..160 instead of 320..800) for speed
RESIZE = dict(type='PPYOLOEBatchRandomResize', random_size_range=(64, 160))
RESIZE.update(interval=1, size_divisor=32, random_interp=True)
CFG = dict(type='PPYOLOEDetDataPreprocessor', batch_augments=[RESIZE])
CFG.update(mean=[0.] * 3, std=[255.] * 3, bgr_to_rgb=True, pad_size_divisor=32)
MMYOLO_CONFIG = osp.join(
    osp.dirname(__file__), '..', '..', '..', '.venv', 'reference',
    'mmyolo-0.6.0', 'mmyolo', '.mim', 'configs', 'ppyoloe',
    'ppyoloe_plus_s_fast_8xb8-80e_coco.py')


def _packed(h, w, boxes, seed):
    g = torch.Generator().manual_seed(seed)
    sample = DetDataSample(metainfo=dict(img_shape=(h, w)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        labels=torch.arange(len(boxes)))
    return dict(
        inputs=torch.randint(
            0, 256, (3, h, w), generator=g, dtype=torch.uint8),
        data_samples=sample)


def _batch():
    collate = FUNCTIONS.get('yolov5_collate')
    return collate([
        _packed(40, 60, [[1., 2., 30., 20.]], 0),
        _packed(64, 48, [[0., 0., 48., 64.], [4., 8., 12., 16.]], 1)
    ],
                   use_ms_training=True)


class _Spy(nn.Module):
    """A batch augment that records what it was given and stacks."""

    def forward(self, inputs, data_samples):
        self.seen = [x.clone() for x in inputs]
        return torch.stack(inputs), data_samples


def _square_batch():
    g = torch.Generator().manual_seed(3)
    imgs = [
        torch.randint(0, 256, (3, 4, 5), generator=g, dtype=torch.uint8)
        for _ in range(2)
    ]
    return dict(
        inputs=imgs,
        data_samples=dict(bboxes_labels=torch.tensor([[1, 0, 0, 0, 2, 2.]])))


def test_batch_augment_sees_rgb_0_255_floats_then_normalised():
    pre = MODELS.build(
        dict(
            type='PPYOLOEDetDataPreprocessor',
            mean=[10., 20., 30.],
            std=[2., 4., 8.],
            bgr_to_rgb=True))
    spy = _Spy()
    pre.batch_augments = nn.ModuleList([spy])
    batch = _square_batch()
    out = pre(copy.deepcopy(batch), training=True)
    for seen, raw in zip(spy.seen, batch['inputs']):
        assert seen.dtype == torch.float32
        assert torch.equal(seen, raw[[2, 1, 0]].float())  # RGB, not scaled
    # by hand: channel c of the output is (rgb[c] - mean[c]) / std[c]
    raw = batch['inputs'][1]
    r, g, b = raw[2].float(), raw[1].float(), raw[0].float()
    torch.testing.assert_close(out['inputs'][1, 0], (r - 10) / 2)
    torch.testing.assert_close(out['inputs'][1, 1], (g - 20) / 4)
    torch.testing.assert_close(out['inputs'][1, 2], (b - 30) / 8)
    samples = out['data_samples']
    assert samples['bboxes_labels'].tolist() == [[1, 0, 0, 0, 2, 2]]
    assert samples['img_metas'] == [{'batch_input_shape': (4, 5)}] * 2


def test_config_batch_resized_to_one_size_and_boxes_follow():
    pre = MODELS.build(CFG)
    MessageHub.get_current_instance().update_info('iter', 0)
    random.seed(0)
    out = pre(_batch(), training=True)
    imgs = out['inputs']
    side = imgs.shape[-1]
    assert imgs.shape == (2, 3, side, side)
    assert side % 32 == 0 and 64 <= side <= 160
    if pre.batch_augments[0].interp_mode != 'bicubic':  # no overshoot
        assert 0 <= imgs.min() and imgs.max() <= 1  # std 255: 0..1
    # image 0 is 60 x 40: its box (1, 2, 30, 20) scales by side/60, side/40
    rows = out['data_samples']['bboxes_labels']
    torch.testing.assert_close(
        rows[0, 2:],
        torch.tensor(
            [1 * side / 60, 2 * side / 40, 30 * side / 60, 20 * side / 40]))
    # image 1's whole-image box covers the new image
    torch.testing.assert_close(rows[1, 2:], torch.tensor([0., 0., side, side]))
    assert out['data_samples']['img_metas'][0] == {
        'batch_input_shape': (side, side)
    }


def test_without_batch_augments_pads_to_divisor():
    pre = PPYOLOEDetDataPreprocessor(
        mean=[0., 0., 0.], std=[1., 1., 1.], pad_size_divisor=32)
    batch = _batch()  # 40 x 60 and 64 x 48 -> both padded into 64 x 64
    out = pre(batch, training=True)
    assert out['inputs'].shape == (2, 3, 64, 64)
    torch.testing.assert_close(out['inputs'][0, :, :40, :60],
                               batch['inputs'][0].float())
    assert out['inputs'][0, :, 40:].abs().sum() == 0


def test_stacked_batch_is_accepted():
    pre = PPYOLOEDetDataPreprocessor(mean=[0.] * 3, std=[255.] * 3)
    batch = _square_batch()
    batch['inputs'] = torch.stack(batch['inputs'])
    out = pre(copy.deepcopy(batch), training=True)
    torch.testing.assert_close(out['inputs'], batch['inputs'].float() / 255)


def test_eval_is_det_data_preprocessor():
    kwargs = dict(
        mean=[1., 2., 3.],
        std=[4., 5., 6.],
        bgr_to_rgb=True,
        pad_size_divisor=32)
    sample = DetDataSample(metainfo=dict(img_shape=(40, 60)))
    data = dict(
        inputs=[torch.randint(0, 256, (3, 40, 60), dtype=torch.uint8)],
        data_samples=[sample])
    ours = PPYOLOEDetDataPreprocessor(**kwargs)(
        copy.deepcopy(data), training=False)
    ref = DetDataPreprocessor(**kwargs)(copy.deepcopy(data), training=False)
    torch.testing.assert_close(ours['inputs'], ref['inputs'])
    assert ours['data_samples'][0].pad_shape == (64, 64)


def test_not_from_yolov5_collate_raises():
    pre = PPYOLOEDetDataPreprocessor()
    batch = _square_batch()
    with pytest.raises(TypeError, match='data_samples'):
        pre(dict(inputs=batch['inputs'], data_samples=[DetDataSample()]),
            training=True)
    with pytest.raises(TypeError, match='inputs'):
        pre(dict(inputs=[torch.zeros(4, 5)], data_samples={}), training=True)


def test_mmyolo_config_uses_yolov5_collate_multi_scale():
    if not osp.exists(MMYOLO_CONFIG):
        pytest.skip(f'MMYOLO 0.6.0 config {MMYOLO_CONFIG} not found (see '
                    'the `mmyolo_reference` fixture in tests/conftest.py)')
    from mmengine.config import Config
    cfg = Config.fromfile(MMYOLO_CONFIG)
    assert cfg.train_dataloader.collate_fn == dict(
        type='yolov5_collate', use_ms_training=True)
    assert cfg.model.data_preprocessor.type == 'PPYOLOEDetDataPreprocessor'
    # the shipped dict builds unchanged
    pre = MODELS.build(cfg.model.data_preprocessor.to_dict())
    assert pre.batch_augments[0]._random_size_range == (10, 25)


@pytest.mark.parametrize('seed', range(4))
def test_matches_mmyolo_with_same_seed(mmyolo_reference, seed):
    ours = MODELS.build(CFG)
    theirs = mmyolo_reference.build_model(CFG)
    MessageHub.get_current_instance().update_info('iter', seed)
    random.seed(seed)
    out = ours(_batch(), training=True)
    random.seed(seed)
    ref = theirs(_batch(), training=True)
    assert ours.batch_augments[0].interp_mode == \
        theirs.batch_augments[0].interp_mode
    torch.testing.assert_close(out['inputs'], ref['inputs'], rtol=0, atol=0)
    torch.testing.assert_close(
        out['data_samples']['bboxes_labels'],
        ref['data_samples']['bboxes_labels'],
        rtol=0,
        atol=0)
    assert [m['batch_input_shape']
            for m in out['data_samples']['img_metas']] == [
                tuple(m['batch_input_shape'])
                for m in ref['data_samples']['img_metas']
            ]
