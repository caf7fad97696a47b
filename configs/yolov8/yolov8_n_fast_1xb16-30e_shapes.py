# YOLOv8-n trained from scratch on the bundled "shapes" toy dataset
# (tools/misc/make_shapes_dataset.py: circles, squares and triangles on
# cluttered 320x320 backgrounds; 400 train / 100 val / 8 demo images) on one
# CPU or GPU, 16 images per batch, at 160x160, for 30 epochs. It is the
# README's main job (`make demo` = tools/misc/run_main_job.py); the figures
# measured for it are in the README.
#
# Everything but the data, the schedule length and the warm-up is the COCO
# recipe of yolov8_n_syncbn_fast_8xb16-500e_coco.py.
_base_ = 'yolov8_n_syncbn_fast_8xb16-500e_coco.py'

data_root = 'data/shapes/'
class_name = ('circle', 'square', 'triangle')
num_classes = len(class_name)
metainfo = dict(
    classes=class_name, palette=[(220, 20, 60), (20, 120, 220), (20, 200, 80)])

# The 320x320 images are seen at half size: a quarter of the pixels trains
# about 4x faster, and the objects (29-102 px as drawn) stay 14-51 px, well
# above the smallest stride.
img_scale = (160, 160)  # (width, height)

max_epochs = 30
close_mosaic_epochs = 10  # the COCO recipe's last, Mosaic-free epochs
train_batch_size_per_gpu = 16
# Mosaic loading competes with training for a small CPU's two cores.
train_num_workers = 1
val_batch_size_per_gpu = 8
val_num_workers = 1
val_interval = 5
# 25 iterations per epoch: the COCO warm-up floor of 1000 iterations would
# span the whole run and keep the learning rate tiny; 100 is 4 epochs.
warmup_mim_iter = 100
# Seeded data workers and deterministic kernels: two runs on one machine
# give the same model.
randomness = dict(seed=0, deterministic=True)

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
    # the mosaic is twice img_scale; the border crops it back
    dict(**_affine, border=(-img_scale[0] // 2, -img_scale[1] // 2)),
    *_base_.last_transform,
]
train_pipeline_stage2 = [
    *_base_.pre_transform,
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(
        type='LetterResize',
        scale=img_scale,
        allow_scale_up=True,
        pad_val=dict(img=114.0)),
    _affine,
    *_base_.last_transform,
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(
        type='LetterResize',
        scale=img_scale,
        allow_scale_up=False,
        pad_val=dict(img=114)),
    dict(type='LoadAnnotations', with_bbox=True, _scope_='mmdet'),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'pad_param'))
]

train_dataloader = dict(
    batch_size=train_batch_size_per_gpu,
    num_workers=train_num_workers,
    persistent_workers=True,
    # CPU tensors gain nothing from pinned memory.
    pin_memory=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=val_batch_size_per_gpu,
    num_workers=val_num_workers,
    pin_memory=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(batch_size_per_gpu=train_batch_size_per_gpu))

val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val.json', classwise=True)
test_evaluator = val_evaluator

default_hooks = dict(
    # With classwise=True, 'auto' would pick the first metric key, which is
    # the AP of the first class.
    checkpoint=dict(
        interval=val_interval,
        max_keep_ckpts=2,
        save_best='coco/bbox_mAP',
        rule='greater'),
    param_scheduler=dict(
        max_epochs=max_epochs, warmup_mim_iter=warmup_mim_iter),
    logger=dict(type='LoggerHook', interval=5))
log_processor = dict(window_size=5)

custom_hooks = [
    _base_.custom_hooks[0],  # EMAHook
    dict(
        type='mmdet.PipelineSwitchHook',
        switch_epoch=max_epochs - close_mosaic_epochs,
        switch_pipeline=train_pipeline_stage2),
]

train_cfg = dict(
    max_epochs=max_epochs,
    val_interval=val_interval,
    dynamic_intervals=[(max_epochs - close_mosaic_epochs, val_interval)])

# cuDNN autotuning does nothing on the CPU; the main job trains there.
env_cfg = dict(cudnn_benchmark=False)
