"""Every detector family learns: a short CPU training run must reach an mAP.

For each family a training config is derived from the family's shipped small
COCO config (``_base_`` points at it) and trained from scratch through
``tools/train.py`` on the generated "shapes" dataset
(``tools/misc/make_shapes_dataset.py``); the final validation runs
``mmdet.CocoMetric`` and the test reads the bbox mAP it logged.

The derived configs keep each family's model, losses, assigner, box coder,
optimizer, EMA and augmentation types, and change only what a CPU run on a toy
dataset needs: the data (3 classes, 192 px), batch size, epochs, warm-up and
the epoch at which the pipeline switches to the weak-augmentation stage, no
pretrained weights (YOLOv5, which keeps Mosaic to the end, gets the same
stage-2 switch here). A wrong loss, assigner or box coder leaves the mAP near
zero (see the thresholds at ``FAMILIES``), so these runs guard what unit
tests check only piece by piece.
"""
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 3600  # s per run: 2-3 min of CPU, far longer on a loaded machine

IMG_SIZE = 192
NUM_TRAIN, NUM_VAL = 128, 48
TRAIN_BATCH, VAL_BATCH = 8, 8  # 16 iterations per epoch
# 4 epochs with the family's strong augmentation (Mosaic etc.), then 12 with
# its weak stage-2 pipeline: 256 iterations in all (YOLOv5: 28, 512).
EPOCHS, SWITCH_EPOCH = 16, 4
SEED = 0

# ---------------------------------------------------------------------------
# Header shared by every derived config: data, classes, image size, schedule.
_HEADER = '''
_base_ = {base!r}

data_root = {data_root!r}
class_name = ('circle', 'square', 'triangle')
num_classes = len(class_name)
metainfo = dict(
    classes=class_name,
    palette=[(220, 20, 60), (20, 120, 220), (20, 200, 80)])
img_scale = ({size}, {size})  # the images are drawn at this size
load_from = None  # from scratch: nothing is downloaded

max_epochs = {epochs}
# The weak-augmentation stage (no Mosaic/MixUp) of the last epochs.
switch_epoch = {switch_epoch}
train_batch_size_per_gpu = {train_batch}
val_batch_size_per_gpu = {val_batch}
'''

# Data loading, evaluation and runtime shared by every derived config. It
# comes after the family part, which defines the pipelines, batch_shapes_cfg
# and default_hooks.
_FOOTER = '''
train_dataloader = dict(
    batch_size=train_batch_size_per_gpu,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=val_batch_size_per_gpu,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline,
        batch_shapes_cfg=batch_shapes_cfg))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

default_hooks.update(
    checkpoint=dict(
        type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1,
        save_best=None),
    logger=dict(type='LoggerHook', interval=4))
log_processor = dict(window_size=4)
# Validate once, after the last epoch.
train_cfg = dict(
    max_epochs=max_epochs, val_interval=max_epochs, dynamic_intervals=None)
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed={seed})
'''

# letterboxed validation with YOLOv5's rectangular batch shapes, shared by
# the YOLOv5-style bodies
_LETTERBOX_TEST = '''\
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=False,
         pad_val=dict(img=114)),
    dict(type='LoadAnnotations', with_bbox=True, _scope_='mmdet'),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'pad_param')),
]
batch_shapes_cfg = dict(
    type='BatchShapePolicy', batch_size=val_batch_size_per_gpu,
    img_size=img_scale[0], size_divisor=32, extra_pad_ratio=0.5)

_base_.optim_wrapper.optimizer.batch_size_per_gpu = train_batch_size_per_gpu
'''

# ----- YOLOv5-n: anchors, objectness, SGD + YOLOv5ParamSchedulerHook -----
_YOLOV5 = '''
model = dict(
    bbox_head=dict(
        head_module=dict(num_classes=num_classes),
        # YOLOv5 scales these weights by num_classes / 80 and by
        # (img_size / 640) ** 2 (as configs/yolov5/*_shapes.py does).
        loss_cls=dict(loss_weight=_base_.loss_cls_weight * num_classes / 80),
        loss_obj=dict(
            loss_weight=_base_.loss_obj_weight * (img_scale[0] / 640)**2)))

train_pipeline = [
    *_base_.pre_transform,
    dict(
        type='Mosaic',
        img_scale=img_scale,
        pad_val=114.0,
        pre_transform=_base_.pre_transform),
    dict(
        type='YOLOv5RandomAffine',
        max_rotate_degree=0.0,
        max_shear_degree=0.0,
        scaling_ratio_range=(1 - _base_.affine_scale, 1 + _base_.affine_scale),
        border=(-img_scale[0] // 2, -img_scale[1] // 2),
        border_val=(114, 114, 114)),
    # Albu, YOLOv5HSVRandomAug, RandomFlip, PackDetInputs
    *_base_.train_pipeline[-4:],
]
# YOLOv5 itself keeps Mosaic to the end. This short run switches to
# letterboxed single images like YOLOv8's last epochs: from scratch, the
# plain images are what makes the few iterations reach a clear mAP (with
# Mosaic throughout, 384 iterations reached 0.065 mAP at 256 px).
train_pipeline_stage2 = [
    *_base_.pre_transform,
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=True,
         pad_val=dict(img=114.0)),
    dict(
        type='YOLOv5RandomAffine',
        max_rotate_degree=0.0,
        max_shear_degree=0.0,
        scaling_ratio_range=(1 - _base_.affine_scale, 1 + _base_.affine_scale),
        border_val=(114, 114, 114)),
    *_base_.train_pipeline[-4:],
]
custom_hooks = [
    *_base_.custom_hooks,  # EMAHook
    dict(
        type='mmdet.PipelineSwitchHook',
        switch_epoch=switch_epoch,
        switch_pipeline=train_pipeline_stage2),
]
''' + _LETTERBOX_TEST + '''default_hooks = dict(
    param_scheduler=dict(
        max_epochs=max_epochs, warmup_epochs=1, warmup_mim_iter={warmup}))
'''

# ----- YOLOv8-n: anchor-free, TAL assigner, DFL + CIoU, close Mosaic -----
_YOLOV8 = '''
model = dict(
    bbox_head=dict(head_module=dict(num_classes=num_classes)),
    train_cfg=dict(assigner=dict(num_classes=num_classes)))

_affine = dict(
    type='YOLOv5RandomAffine',
    max_rotate_degree=0.0,
    max_shear_degree=0.0,
    scaling_ratio_range=(1 - _base_.affine_scale, 1 + _base_.affine_scale),
    max_aspect_ratio=_base_.max_aspect_ratio,
    border_val=(114, 114, 114))
train_pipeline = [
    *_base_.pre_transform,
    dict(
        type='Mosaic',
        img_scale=img_scale,
        pad_val=114.0,
        pre_transform=_base_.pre_transform),
    dict(**_affine, border=(-img_scale[0] // 2, -img_scale[1] // 2)),
    *_base_.last_transform,
]
train_pipeline_stage2 = [
    *_base_.pre_transform,
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=True,
         pad_val=dict(img=114.0)),
    _affine,
    *_base_.last_transform,
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=False,
         pad_val=dict(img=114)),
    dict(type='LoadAnnotations', with_bbox=True, _scope_='mmdet'),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'pad_param')),
]
batch_shapes_cfg = None  # as the family config

_base_.optim_wrapper.optimizer.batch_size_per_gpu = train_batch_size_per_gpu
custom_hooks = [
    _base_.custom_hooks[0],  # EMAHook
    dict(
        type='mmdet.PipelineSwitchHook',
        switch_epoch=switch_epoch,
        switch_pipeline=train_pipeline_stage2),
]
default_hooks = dict(
    param_scheduler=dict(
        max_epochs=max_epochs, warmup_epochs=1, warmup_mim_iter={warmup}))
'''

# ----- RTMDet-tiny: CSPNeXt, dynamic soft-label assigner, QFL + GIoU,
# AdamW with flat-cosine schedule, cached Mosaic + MixUp -----
_RTMDET = '''
model = dict(
    # The shipped tiny config initialises the backbone from an ImageNet
    # checkpoint URL; train from scratch instead.
    backbone=dict(init_cfg=None),
    bbox_head=dict(head_module=dict(num_classes=num_classes)),
    train_cfg=dict(assigner=dict(num_classes=num_classes)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='Mosaic',
        img_scale=img_scale,
        use_cached=True,
        max_cached_images=_base_.mosaic_max_cached_images,
        random_pop=False,
        pad_val=114.0),
    dict(
        type='mmdet.RandomResize',
        scale=(img_scale[0] * 2, img_scale[1] * 2),
        ratio_range=_base_.random_resize_ratio_range,
        resize_type='mmdet.Resize',
        keep_ratio=True),
    dict(type='mmdet.RandomCrop', crop_size=img_scale),
    dict(type='mmdet.YOLOXHSVRandomAug'),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(
        type='YOLOv5MixUp',
        use_cached=True,
        random_pop=False,
        max_cached_images=_base_.mixup_max_cached_images,
        prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
train_pipeline_stage2 = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='mmdet.RandomResize',
        scale=img_scale,
        ratio_range=_base_.random_resize_ratio_range,
        resize_type='mmdet.Resize',
        keep_ratio=True),
    dict(type='mmdet.RandomCrop', crop_size=img_scale),
    dict(type='mmdet.YOLOXHSVRandomAug'),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='mmdet.PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=False,
         pad_val=dict(img=114)),
    dict(type='LoadAnnotations', with_bbox=True, _scope_='mmdet'),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'pad_param')),
]
batch_shapes_cfg = dict(
    type='BatchShapePolicy', batch_size=val_batch_size_per_gpu,
    img_size=img_scale[0], size_divisor=32, extra_pad_ratio=0.5)

# Flat-cosine as the family config, with a warm-up of {warmup} iterations
# instead of 1000.
param_scheduler = [
    dict(type='LinearLR', start_factor=_base_.lr_start_factor,
         by_epoch=False, begin=0, end={warmup}),
    dict(type='CosineAnnealingLR', eta_min=_base_.base_lr * 0.05,
         begin=max_epochs // 2, end=max_epochs, T_max=max_epochs // 2,
         by_epoch=True, convert_to_iter_based=True),
]
custom_hooks = [
    _base_.custom_hooks[0],  # EMAHook
    dict(
        type='mmdet.PipelineSwitchHook',
        switch_epoch=switch_epoch,
        switch_pipeline=train_pipeline_stage2),
]
default_hooks = dict()
'''

# ----- YOLOX-tiny: decoupled head with objectness, SimOTA, IoU + L1 aux,
# multi-scale batches, YOLOXModeSwitchHook -----
_YOLOX = '''
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='YOLOXBatchSyncRandomResize',
            # (320, 640) around 416 in the family config
            random_size_range=(img_scale[0] - 64, img_scale[0] + 64),
            size_divisor=32,
            interval=_base_.batch_augments_interval)
    ]),
    bbox_head=dict(head_module=dict(num_classes=num_classes)))

train_pipeline = [
    *_base_.pre_transform,
    dict(
        type='Mosaic',
        img_scale=img_scale,
        pad_val=114.0,
        pre_transform=_base_.pre_transform),
    dict(
        type='mmdet.RandomAffine',
        scaling_ratio_range=_base_.scaling_ratio_range,
        border=(-img_scale[0] // 2, -img_scale[1] // 2)),
    # YOLOXHSVRandomAug, RandomFlip, FilterAnnotations, PackDetInputs
    *_base_.train_pipeline_stage1[-4:],
]
train_pipeline_stage2 = [
    *_base_.pre_transform,
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    # Pad, YOLOXHSVRandomAug, RandomFlip, FilterAnnotations, PackDetInputs
    *_base_.train_pipeline_stage2[-5:],
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.Pad', pad_to_square=True,
         pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='LoadAnnotations', with_bbox=True, _scope_='mmdet'),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
batch_shapes_cfg = None

num_last_epochs = max_epochs - switch_epoch
# The family's schedule (quadratic warm-up, cosine, constant for the last
# epochs) with a warm-up of one epoch instead of 5.
param_scheduler = [
    dict(type='mmdet.QuadraticWarmupLR', by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=_base_.base_lr * 0.05, begin=1,
         T_max=switch_epoch, end=switch_epoch, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='ConstantLR', by_epoch=True, factor=1, begin=switch_epoch,
         end=max_epochs),
]
custom_hooks = [
    dict(
        type='YOLOXModeSwitchHook',
        num_last_epochs=num_last_epochs,
        new_train_pipeline=train_pipeline_stage2,
        priority=48),
    *_base_.custom_hooks[1:],  # SyncNormHook, EMAHook
]
default_hooks = dict()
'''


# ----- YOLOv7-tiny: anchors with objectness, YOLOv5 candidates refined by
# simOTA, Mosaic/Mosaic9, SGD + YOLOv7OptimWrapperConstructor -----
_YOLOV7 = '''
model = dict(
    bbox_head=dict(
        head_module=dict(num_classes=num_classes),
        # scaled by num_classes / 80 and (img_size / 640) ** 2, as the
        # family config does for its own num_classes and image size
        loss_cls=dict(loss_weight=_base_.loss_cls_weight * num_classes / 80),
        loss_obj=dict(
            loss_weight=_base_.loss_obj_weight * (img_scale[0] / 640)**2)))

_affine = dict(
    type='YOLOv5RandomAffine',
    max_rotate_degree=0.0,
    max_shear_degree=0.0,
    max_translate_ratio=_base_.max_translate_ratio,
    scaling_ratio_range=_base_.scaling_ratio_range,
    border_val=(114, 114, 114))
_mosaic_border = dict(**_affine, border=(-img_scale[0] // 2,
                                         -img_scale[1] // 2))
train_pipeline = [
    *_base_.pre_transform,
    dict(
        type='RandomChoice',
        transforms=[[
            dict(type='Mosaic', img_scale=img_scale, pad_val=114.0,
                 pre_transform=_base_.pre_transform), _mosaic_border
        ], [
            dict(type='Mosaic9', img_scale=img_scale, pad_val=114.0,
                 pre_transform=_base_.pre_transform), _mosaic_border
        ]],
        prob=_base_.randchoice_mosaic_prob),
    # YOLOv5HSVRandomAug, RandomFlip, PackDetInputs (MixUp left out, its
    # probability is 0.05 in the tiny config)
    *_base_.train_pipeline[-3:],
]
# YOLOv7 keeps Mosaic to the end; as for YOLOv5, this short run switches to
# letterboxed single images for its last epochs.
train_pipeline_stage2 = [
    *_base_.pre_transform,
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=True,
         pad_val=dict(img=114.0)),
    _affine,
    *_base_.train_pipeline[-3:],
]
custom_hooks = [
    *_base_.custom_hooks,  # EMAHook
    dict(
        type='mmdet.PipelineSwitchHook',
        switch_epoch=switch_epoch,
        switch_pipeline=train_pipeline_stage2),
]
''' + _YOLOV5[_YOLOV5.index('test_pipeline = ['):]
# the rest (letterbox test pipeline, batch shapes, batch size, scheduler
# warm-up) is YOLOv5's

# ----- YOLOv6-n v3.0: RepVGG backbone/neck, ATSS for initial_epoch (4)
# epochs then TAL, Varifocal + SIoU, close Mosaic -----
_YOLOV6 = '''
model = dict(
    bbox_head=dict(head_module=dict(num_classes=num_classes)),
    train_cfg=dict(
        initial_assigner=dict(num_classes=num_classes),
        assigner=dict(num_classes=num_classes)))

train_pipeline = [
    *_base_.pre_transform,
    dict(
        type='Mosaic',
        img_scale=img_scale,
        pad_val=114.0,
        pre_transform=_base_.pre_transform),
    dict(
        type='YOLOv5RandomAffine',
        max_rotate_degree=0.0,
        max_translate_ratio=0.1,
        scaling_ratio_range=(1 - _base_.affine_scale, 1 + _base_.affine_scale),
        border=(-img_scale[0] // 2, -img_scale[1] // 2),
        border_val=(114, 114, 114),
        max_shear_degree=0.0),
    # YOLOv5HSVRandomAug, RandomFlip, PackDetInputs
    *_base_.train_pipeline[-3:],
]
train_pipeline_stage2 = [
    *_base_.pre_transform,
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=True,
         pad_val=dict(img=114)),
    dict(
        type='YOLOv5RandomAffine',
        max_rotate_degree=0.0,
        max_translate_ratio=0.1,
        scaling_ratio_range=(1 - _base_.affine_scale, 1 + _base_.affine_scale),
        max_shear_degree=0.0),
    *_base_.train_pipeline[-3:],
]
''' + _LETTERBOX_TEST + '''custom_hooks = [
    _base_.custom_hooks[0],  # EMAHook
    dict(
        type='mmdet.PipelineSwitchHook',
        switch_epoch=switch_epoch,
        switch_pipeline=train_pipeline_stage2),
]
default_hooks = dict(
    param_scheduler=dict(
        max_epochs=max_epochs, warmup_epochs=1, warmup_mim_iter={warmup}))
'''


class Family:
    """A family's derived training config and its expected mAP."""

    def __init__(self, name, base, body, epochs, switch_epoch, warmup,
                 min_map50):
        self.name = name
        self.base = REPO / 'configs' / base
        self.body = body
        self.epochs = epochs
        self.switch_epoch = switch_epoch
        self.warmup = warmup
        self.min_map50 = min_map50

    def config_text(self, data_root):
        header = _HEADER.format(
            base=str(self.base),
            data_root=data_root,
            size=IMG_SIZE,
            epochs=self.epochs,
            switch_epoch=self.switch_epoch,
            train_batch=TRAIN_BATCH,
            val_batch=VAL_BATCH)
        return (header + self.body.format(warmup=self.warmup) +
                _FOOTER.format(seed=SEED))


# Thresholds on COCO bbox mAP_50 over the 48 validation images. A broken
# loss, assigner or box coder scores ~0: every family's first validation,
# after the 4 Mosaic epochs, measured 0.000-0.023 mAP_50 during development.
# Training runs on one thread, so one machine repeats a run exactly, but
# another CPU's kernels round differently and the run drifts: the same
# seed measured 0.011, 0.073 and 0.088 (YOLOv5, 16 epochs) on three
# machines. Each threshold is therefore about a third of the lowest mAP_50
# measured over randomness seeds 0-2 (the test uses 0), and above 0.023:
#   YOLOv8  0.408 / 0.401 / 0.391           -> 0.15
#   RTMDet  0.230 / 0.275 / 0.329           -> 0.08
#   YOLOX   0.253 / 0.167 / 0.196           -> 0.06
#   YOLOv5  0.206 / 0.190 / 0.093 (32 ep.)  -> 0.03
# YOLOv5 gets 32 epochs: with its official loss weights for 3 classes at
# 192 px (class weight 0.5 * 3 / 80, objectness 1.0 * (192 / 640) ** 2) it
# learns the classes slowly, and 16 epochs ended between 0.011 and 0.099.
# Its loss and assignment equal the official ComputeLoss
# (tests/models/dense_heads/test_yolov5_head_official_loss.py).
FAMILIES = [
    Family('yolov5', 'yolov5/yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py',
           _YOLOV5, epochs=2 * EPOCHS, switch_epoch=SWITCH_EPOCH, warmup=16,
           min_map50=0.03),
    Family('yolov8', 'yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py',
           _YOLOV8, epochs=EPOCHS, switch_epoch=SWITCH_EPOCH, warmup=16,
           min_map50=0.15),
    Family('rtmdet', 'rtmdet/rtmdet_tiny_syncbn_fast_8xb32-300e_coco.py',
           _RTMDET, epochs=EPOCHS, switch_epoch=SWITCH_EPOCH, warmup=16,
           min_map50=0.08),
    Family('yolox', 'yolox/yolox_tiny_fast_8xb8-300e_coco.py', _YOLOX,
           epochs=EPOCHS, switch_epoch=SWITCH_EPOCH, warmup=16,
           min_map50=0.06),
    # YOLOv7-tiny, 32 epochs (as YOLOv5), randomness seeds 0 / 1 with
    # OMP_NUM_THREADS=1 on this machine: mAP_50 0.026 / 0.038 (seed 2 not
    # run, for time). It learns the classes slowly here: loss_cls stays at
    # ~0.19 from epoch 5 on (its weight is 0.5 * 3 / 80, as YOLOv5's), while
    # the same model overfits a fixed batch in 40 Adam steps (loss_cls 1.43
    # -> 0.04). A third of the lowest run is 0.009, below the 0.023 a broken
    # model can reach, so this row guards against crashes, NaN and a model
    # that finds no box at all, not against a subtly wrong loss (that is
    # the MMYOLO loss parity in tests/models/test_yolov7_mmyolo_parity.py).
    Family('yolov7', 'yolov7/yolov7_tiny_syncbn_fast_8x16b-300e_coco.py',
           _YOLOV7, epochs=2 * EPOCHS, switch_epoch=SWITCH_EPOCH, warmup=16,
           min_map50=0.01),
    # YOLOv6 v3-n: ATSS in the 4 Mosaic epochs, task-aligned after; seeds
    # 0 / 1 / 2 measured 0.105 / 0.137 / 0.208 mAP_50 (16 epochs,
    # OMP_NUM_THREADS=1) -> a third of the lowest, 0.035. Its losses and
    # both assigners equal MMYOLO's
    # (tests/models/test_yolov6_mmyolo_parity.py).
    Family('yolov6', 'yolov6/yolov6_v3_n_syncbn_fast_8xb32-300e_coco.py',
           _YOLOV6, epochs=EPOCHS, switch_epoch=SWITCH_EPOCH, warmup=16,
           min_map50=0.035),
]


def _family_params():
    params = []
    for family in FAMILIES:
        marks = []
        if not family.base.is_file():
            marks.append(
                pytest.mark.skip(
                    reason=f'{family.name}: the family config '
                    f'{family.base.relative_to(REPO)} is not in this '
                    'checkout'))
        params.append(pytest.param(family, id=family.name, marks=marks))
    return params


def _load_shapes_module():
    spec = importlib.util.spec_from_file_location(
        'make_shapes_dataset',
        REPO / 'tools' / 'misc' / 'make_shapes_dataset.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('family_shapes') / 'shapes'
    _load_shapes_module().make_shapes_dataset(
        str(root),
        splits=(('train', NUM_TRAIN), ('val', NUM_VAL)),
        seed=SEED,
        img_size=(IMG_SIZE, IMG_SIZE))
    return str(root) + '/'


def _final_metrics(work_dir):
    runs = [p for p in Path(work_dir).iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    lines = (runs[0] / 'vis_data' / 'scalars.json').read_text().splitlines()
    metrics = [json.loads(line) for line in lines]
    return [m for m in metrics if 'coco/bbox_mAP' in m]


@pytest.mark.parametrize('family', _family_params())
def test_family_learns_shapes(family, shapes_root, tmp_path):
    config = tmp_path / f'{family.name}_shapes_e2e.py'
    config.write_text(family.config_text(shapes_root))
    work_dir = tmp_path / 'work'
    # One thread per run: `make test` runs two pytest workers on two cores,
    # and two multi-threaded runs on two cores slow each other down several
    # fold.
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), str(config),
         '--work-dir', str(work_dir)],
        cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime -
           cpu_before.ru_stime)
    assert proc.returncode == 0, (
        f'training {family.name} failed ({proc.returncode})\n'
        f'--- stdout ---\n{proc.stdout[-4000:]}\n'
        f'--- stderr ---\n{proc.stderr[-4000:]}')
    metrics = _final_metrics(work_dir)
    assert len(metrics) == 1, metrics  # validated once, after training
    result = metrics[0]
    summary = (f'{family.name}: bbox mAP {result["coco/bbox_mAP"]:.3f}, '
               f'mAP_50 {result["coco/bbox_mAP_50"]:.3f} after '
               f'{family.epochs} epochs; {elapsed:.0f} s wall, {cpu:.0f} s '
               'CPU')
    print(summary)
    assert (work_dir / f'epoch_{family.epochs}.pth').is_file()
    assert result['coco/bbox_mAP_50'] >= family.min_map50, (
        f'{summary}; expected mAP_50 >= {family.min_map50}')
