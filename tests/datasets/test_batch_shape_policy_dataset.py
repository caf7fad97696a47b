"""Tests of BatchShapePolicyDataset (through YOLOv5CocoDataset)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from yolokit.datasets import BatchShapePolicyDataset, YOLOv5CocoDataset
from yolokit.registry import DATASETS


@pytest.fixture
def coco_sample(shared_data_dir, tmp_path):
    """The shared tiny COCO json plus blank images of the sizes it states."""
    ann_file = osp.join(shared_data_dir, 'samples', 'coco_sample.json')
    with open(ann_file) as f:
        images = json.load(f)['images']
    for info in images:
        cv2.imwrite(
            str(tmp_path / info['file_name']),
            np.full((info['height'], info['width'], 3), 90, np.uint8))
    return ann_file, str(tmp_path)


def _dataset(coco_sample, **kwargs):
    ann_file, img_dir = coco_sample
    cfg = dict(
        type='YOLOv5CocoDataset',
        ann_file=ann_file,
        data_prefix=dict(img=img_dir),
        pipeline=[])
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_mro_puts_the_mixin_first():
    assert YOLOv5CocoDataset.__mro__[1] is BatchShapePolicyDataset


@pytest.mark.parametrize('serialize_data', [True, False])
def test_batch_shapes_applied_in_full_init(coco_sample, serialize_data):
    # Images (w, h): id0 800x600 (.75), id1 650x800 (1.23), id2 500x400
    # (.8), id3 30x20 (.667). Sorted by h/w: 3, 0 | 2, 1.
    # Batch 0: max .75 -> ceil(.75*640/32 + .5) * 32 = 16 * 32 = 512 high,
    #          ceil(20.5) * 32 = 672 wide. Batch 1 is mixed -> 672 x 672.
    dataset = _dataset(
        coco_sample,
        test_mode=True,
        serialize_data=serialize_data,
        batch_shapes_cfg=dict(type='BatchShapePolicy', batch_size=2))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [d['img_id'] for d in infos] == [3, 0, 2, 1]
    assert [d['batch_shape'].tolist() for d in infos] == [[512,
                                                           672], [512, 672],
                                                          [672, 672],
                                                          [672, 672]]


def test_lazy_init_applies_batch_shapes_on_full_init(coco_sample):
    dataset = _dataset(
        coco_sample,
        test_mode=True,
        lazy_init=True,
        batch_shapes_cfg=dict(type='BatchShapePolicy', batch_size=2))
    assert not dataset._fully_initialized
    dataset.full_init()
    assert dataset.get_data_info(0)['img_id'] == 3
    assert 'batch_shape' in dataset.get_data_info(0)


def test_no_batch_shapes_keeps_order(coco_sample):
    dataset = _dataset(coco_sample, test_mode=True)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [d['img_id'] for d in infos] == [0, 1, 2, 3]
    assert all('batch_shape' not in d for d in infos)


def test_dataset_passed_to_pipeline_only_in_training(coco_sample):
    train = _dataset(coco_sample, test_mode=False)
    data = train[0]
    assert data['dataset'] is train
    # The stored data info is not polluted.
    assert 'dataset' not in train.get_data_info(0)

    test = _dataset(coco_sample, test_mode=True)
    assert 'dataset' not in test[0]


def test_uppercase_metainfo_is_rejected(coco_sample):
    with pytest.raises(ValueError, match='"CLASSES" -> "classes"'):
        _dataset(coco_sample, metainfo=dict(CLASSES=('bus', 'car')))
    dataset = _dataset(
        coco_sample, test_mode=True, metainfo=dict(classes=('bus', 'car')))
    assert dataset.metainfo['classes'] == ('bus', 'car')


def test_test_pipeline_pads_to_batch_shape(coco_sample):
    # img id 3 is 30 x 20 (w x h), batch shape (512, 672).
    # YOLOv5KeepRatioResize(640): ratio = min(640/30, 640/20) = 21.33 ->
    #   (int(30*21.33), int(20*21.33)) = 640 x 426.
    # LetterResize(allow_scale_up=False): ratio min(512/426, 672/640, 1) = 1,
    #   pad h 512-426 = 86 -> 43/43, pad w 672-640 = 32 -> 16/16.
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='YOLOv5KeepRatioResize', scale=(640, 640)),
        dict(
            type='LetterResize',
            scale=(640, 640),
            allow_scale_up=False,
            pad_val=dict(img=114)),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(
            type='PackDetInputs',
            meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                       'scale_factor', 'pad_param')),
    ]
    dataset = _dataset(
        coco_sample,
        test_mode=True,
        pipeline=pipeline,
        batch_shapes_cfg=dict(type='BatchShapePolicy', batch_size=2))
    data = dataset[0]
    sample = data['data_samples']
    assert sample.img_id == 3
    assert tuple(data['inputs'].shape) == (3, 512, 672)
    assert sample.pad_param.tolist() == [43, 43, 16, 16]
    np.testing.assert_allclose(sample.scale_factor, (640 / 30, 426 / 20))
    # Padding carries the pad value, the image its own (90).
    assert data['inputs'][:, 0, 0].tolist() == [114, 114, 114]
    assert data['inputs'][:, 256, 336].tolist() == [90, 90, 90]
    # Both annotations of image 3 are degenerate (area 0, h < 1) and are
    # skipped by CocoDataset.
    assert len(sample.gt_instances) == 0

    # img id 0 is 800 x 600 -> ratio .8 -> 640 x 480; LetterResize to
    # (512, 672) pads 32 rows (16/16) and 32 columns (16/16). Its crowd box
    # (ignore_flag 1) is dropped by LoadAnnotations. The test pipeline loads
    # annotations after resizing, so the box stays in original coordinates.
    sample = dataset[1]['data_samples']
    assert sample.img_id == 0
    assert sample.pad_param.tolist() == [16, 16, 16, 16]
    assert sample.gt_instances.bboxes.tensor.tolist() == [[0, 0, 20, 20]]
    assert len(sample.ignored_instances) == 0


@pytest.mark.parametrize('serialize_data', [True, False])
def test_batch_shapes_come_from_the_whole_list_before_indices(
        coco_sample, serialize_data):
    # Sorted by h/w the full list is 3, 0 | 2, 1 (see above); `indices=2`
    # keeps the first two items of that sorted list, with their shapes.
    dataset = _dataset(
        coco_sample,
        test_mode=True,
        indices=2,
        serialize_data=serialize_data,
        batch_shapes_cfg=dict(type='BatchShapePolicy', batch_size=2))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [d['img_id'] for d in infos] == [3, 0]
    assert [d['batch_shape'].tolist() for d in infos] == [[512, 672],
                                                          [512, 672]]


def test_batch_shapes_come_from_the_list_before_filtering(coco_sample):
    # filter_empty_gt drops image 2 (no annotation). Its batch (2, 1) was
    # mixed (h/w .8 and 1.23) -> 672 x 672 for image 1. Had the shapes been
    # computed after filtering, image 1 (650 x 800, portrait, h/w 1.23)
    # would be alone: w = ceil(650/800 * 20 + .5) * 32 = 17 * 32 = 544.
    dataset = _dataset(
        coco_sample,
        test_mode=False,
        filter_cfg=dict(filter_empty_gt=True),
        batch_shapes_cfg=dict(type='BatchShapePolicy', batch_size=2))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    by_id = {d['img_id']: d['batch_shape'].tolist() for d in infos}
    assert 2 not in by_id
    assert by_id[1] == [672, 672]
