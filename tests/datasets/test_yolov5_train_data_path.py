"""The YOLOv5 training data path end to end on the shared COCO sample.

YOLOv5CocoDataset (passing itself to the pipeline) -> the YOLOv5-s train
pipeline (Mosaic fetches other images through ``results['dataset']``) ->
yolov5_collate -> YOLOv5DetDataPreprocessor.
"""
import os.path as osp
import warnings

import numpy as np
import torch
from mmengine.runner import Runner

from yolokit.registry import DATASETS, MODELS

IMG_SCALE = (320, 320)


def _train_pipeline():
    pre_transform = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True)
    ]
    albu = [
        dict(type='Blur', p=0.01),
        dict(type='MedianBlur', p=0.01),
        dict(type='ToGray', p=0.01),
        dict(type='CLAHE', p=0.01)
    ]
    return [
        *pre_transform,
        dict(
            type='Mosaic',
            img_scale=IMG_SCALE,
            pad_val=114.0,
            pre_transform=pre_transform),
        dict(
            type='YOLOv5RandomAffine',
            max_rotate_degree=0.0,
            max_shear_degree=0.0,
            scaling_ratio_range=(0.5, 1.5),
            border=(-IMG_SCALE[0] // 2, -IMG_SCALE[1] // 2),
            border_val=(114, 114, 114)),
        dict(
            type='mmdet.Albu',
            transforms=albu,
            bbox_params=dict(
                type='BboxParams',
                format='pascal_voc',
                label_fields=['gt_bboxes_labels', 'gt_ignore_flags']),
            keymap={
                'img': 'image',
                'gt_bboxes': 'bboxes'
            }),
        dict(type='YOLOv5HSVRandomAug'),
        dict(type='mmdet.RandomFlip', prob=0.5),
        dict(
            type='mmdet.PackDetInputs',
            meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'flip',
                       'flip_direction')),
    ]


def test_train_batch_reaches_the_model_input_format(shared_data_dir):
    samples = osp.join(shared_data_dir, 'samples')
    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # albumentations 2
        dataset = DATASETS.build(
            dict(
                type='YOLOv5CocoDataset',
                ann_file=osp.join(samples, 'coco_sample_color.json'),
                data_prefix=dict(img=samples + '/'),
                filter_cfg=dict(filter_empty_gt=False),
                pipeline=_train_pipeline()))
    loader = Runner.build_dataloader(
        dict(
            batch_size=2,
            num_workers=0,
            dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='yolov5_collate', _scope_='yolokit')))
    batch = next(iter(loader))
    assert batch['inputs'].shape == (2, 3, 320, 320)
    bboxes_labels = batch['data_samples']['bboxes_labels']
    assert bboxes_labels.shape[1] == 6
    assert set(bboxes_labels[:, 0].tolist()) <= {0.0, 1.0}

    preprocessor = MODELS.build(
        dict(
            type='YOLOv5DetDataPreprocessor',
            mean=[0., 0., 0.],
            std=[255., 255., 255.],
            bgr_to_rgb=True))
    out = preprocessor(batch, training=True)
    assert out['inputs'].dtype == torch.float32
    assert 0 <= out['inputs'].min() and out['inputs'].max() <= 1
    assert out['data_samples']['img_metas'][0]['batch_input_shape'] == (320,
                                                                        320)
