"""Tests of YOLOv5DetDataPreprocessor."""
import pytest
import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from yolokit.models.data_preprocessors import (YOLOv5DetDataPreprocessor,
                                               YOLOXBatchSyncRandomResize)
from yolokit.registry import MODELS

CFG = dict(
    type='YOLOv5DetDataPreprocessor',
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    bgr_to_rgb=True)


def _train_batch():
    g = torch.Generator().manual_seed(0)
    inputs = torch.randint(
        0, 256, (2, 3, 4, 5), generator=g, dtype=torch.uint8)
    bboxes_labels = torch.tensor([[0, 1, 0, 0, 2, 2], [1, 3, 1, 1, 4, 3.]])
    return dict(inputs=inputs, data_samples=dict(bboxes_labels=bboxes_labels))


def test_training_converts_bgr_to_rgb_and_divides_by_255():
    pre = MODELS.build(CFG)
    assert isinstance(pre, YOLOv5DetDataPreprocessor)
    batch = _train_batch()
    # Reference: channels reversed, then (x - 0) / 255, in float32.
    expected = batch['inputs'][:, [2, 1, 0]].to(torch.float32) / 255
    out = pre(batch, training=True)
    assert out['inputs'].dtype == torch.float32
    torch.testing.assert_close(out['inputs'], expected)
    samples = out['data_samples']
    assert torch.equal(samples['bboxes_labels'],
                       batch['data_samples']['bboxes_labels'])
    assert samples['img_metas'] == [{'batch_input_shape': (4, 5)}] * 2


def test_training_mean_std_and_no_conversion():
    pre = MODELS.build(
        dict(
            type='YOLOv5DetDataPreprocessor',
            mean=[1., 2., 3.],
            std=[2., 4., 8.]))
    batch = _train_batch()
    x = batch['inputs'].float()
    mean = torch.tensor([1., 2., 3.]).view(1, 3, 1, 1)
    std = torch.tensor([2., 4., 8.]).view(1, 3, 1, 1)
    out = pre(batch, training=True)
    torch.testing.assert_close(out['inputs'], (x - mean) / std)


def test_training_passes_masks_and_keypoints():
    pre = MODELS.build(CFG)
    batch = _train_batch()
    batch['data_samples']['masks'] = torch.ones(2, 1, 1)
    batch['data_samples']['keypoints'] = torch.zeros(2, 17, 2)
    batch['data_samples']['keypoints_visible'] = torch.ones(2, 17)
    samples = pre(batch, training=True)['data_samples']
    assert set(samples) == {
        'bboxes_labels', 'img_metas', 'masks', 'keypoints', 'keypoints_visible'
    }


def test_training_multi_scale_list_is_padded():
    pre = MODELS.build(dict(CFG, pad_size_divisor=8))
    a = torch.full((3, 4, 6), 255, dtype=torch.uint8)
    b = torch.full((3, 7, 3), 51, dtype=torch.uint8)
    out = pre(
        dict(
            inputs=[a, b], data_samples=dict(bboxes_labels=torch.zeros(0, 6))),
        training=True)
    assert out['inputs'].shape == (2, 3, 8, 8)
    assert out['inputs'][0, :, :4, :6].eq(1).all()
    assert out['inputs'][0, :, 4:, :].eq(0).all()
    torch.testing.assert_close(out['inputs'][1, :, :7, :3],
                               torch.full((3, 7, 3), 0.2))


def test_training_requires_yolov5_collate_dict():
    pre = MODELS.build(CFG)
    batch = dict(
        inputs=torch.zeros(1, 3, 4, 4), data_samples=[DetDataSample()])
    with pytest.raises(TypeError, match='yolov5_collate'):
        pre(batch, training=True)


def test_eval_is_mmdet_det_data_preprocessor():
    kwargs = dict(
        mean=[0., 0., 0.],
        std=[255., 255., 255.],
        bgr_to_rgb=True,
        pad_size_divisor=32)
    ours = YOLOv5DetDataPreprocessor(**kwargs)
    reference = DetDataPreprocessor(**kwargs)

    def batch():
        sample = DetDataSample(metainfo=dict(img_shape=(20, 30)))
        sample.gt_instances = InstanceData(
            bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
        img = torch.arange(3 * 20 * 30).reshape(3, 20, 30).to(torch.uint8)
        return dict(inputs=[img], data_samples=[sample])

    out = ours(batch(), training=False)
    ref = reference(batch(), training=False)
    torch.testing.assert_close(out['inputs'], ref['inputs'])
    assert out['inputs'].shape == (1, 3, 32, 32)
    assert out['data_samples'][0].batch_input_shape == (32, 32)


def test_non_blocking_default_and_batch_augments():
    pre = MODELS.build(
        dict(
            CFG,
            batch_augments=[
                dict(
                    type='YOLOXBatchSyncRandomResize',
                    random_size_range=(480, 800),
                    size_divisor=32,
                    interval=1)
            ]))
    assert pre._non_blocking is True
    assert isinstance(pre.batch_augments[0], YOLOXBatchSyncRandomResize)
    pre.batch_augments[0]._input_size = (8, 10)
    out = pre(_train_batch(), training=True)
    assert out['inputs'].shape == (2, 3, 8, 10)
    assert out['data_samples']['img_metas'][0] == {
        'batch_input_shape': (8, 10)
    }
    # boxes scaled by 2 in x and y
    assert out['data_samples']['bboxes_labels'][1].tolist() == [
        1, 3, 2, 2, 8, 6
    ]
