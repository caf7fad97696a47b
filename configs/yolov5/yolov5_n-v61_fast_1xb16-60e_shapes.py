# YOLOv5-n trained from scratch on the bundled "shapes" toy dataset
# (tools/misc/make_shapes_dataset.py: circles, squares and triangles on
# cluttered 320x320 backgrounds; 400 train / 100 val / 8 demo images) on one
# CPU or GPU with 16 images per batch, at 160x160. Run it through the main
# job's script: `python tools/misc/run_main_job.py --config
# configs/yolov5/yolov5_n-v61_fast_1xb16-60e_shapes.py` (the README's main
# job trains YOLOv8-n, which learns this data faster).
#
# Measured on 2-core CPUs: bbox mAP 0.488-0.544 on different machines
# (seed 0), about 9 minutes. YOLOv5 learns the boxes early; telling the
# classes apart (squares the longest) is what needs the epochs: its class
# loss weight is COCO's times 3 / 80 classes, as in the official recipe,
# and 40 epochs ended at 0.35 bbox mAP.
_base_ = 'yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py'

data_root = 'data/shapes/'
class_name = ('circle', 'square', 'triangle')
num_classes = len(class_name)
metainfo = dict(
    classes=class_name, palette=[(220, 20, 60), (20, 120, 220), (20, 200, 80)])

# The network sees the 320x320 images at this size: a quarter of the pixels
# of 320 make training about 4x faster, and the objects (29-102 px drawn)
# stay large enough for stride 8.
img_scale = (160, 160)  # (width, height)

# Prior sizes (w, h) at img_scale: the objects are roughly square, 14-51 px
# at 160 (29-102 px as drawn at 320), 10-64 px after the random affine.
anchors = [
    [(6, 6), (10, 10), (14, 14)],  # P3/8
    [(20, 20), (26, 26), (33, 33)],  # P4/16
    [(42, 42), (53, 53), (68, 68)]  # P5/32
]

# 40 epochs reached only 0.35 bbox mAP.
max_epochs = 60
train_batch_size_per_gpu = 16
# Mosaic loading competes with training for a small CPU's cores.
train_num_workers = 1
val_batch_size_per_gpu = 8
val_num_workers = 1
base_lr = 0.01
affine_scale = 0.25  # random scaling in [0.75, 1.25]
val_interval = 5
save_checkpoint_intervals = 10
randomness = dict(seed=0)

# ======================= Rarely modified ====================================
model = dict(
    bbox_head=dict(
        head_module=dict(num_classes=num_classes),
        prior_generator=dict(base_sizes=anchors),
        # YOLOv5 scales the loss weights by num_classes / 80 and by
        # (img_size / 640) ** 2, relative to COCO at 640.
        loss_cls=dict(loss_weight=_base_.loss_cls_weight * num_classes / 80),
        loss_obj=dict(loss_weight=_base_.loss_obj_weight *
                      (img_scale[0] / 640)**2)))

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
        scaling_ratio_range=(1 - affine_scale, 1 + affine_scale),
        border=(-img_scale[0] // 2, -img_scale[1] // 2),
        border_val=(114, 114, 114)),
    dict(type='YOLOv5HSVRandomAug'),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'flip',
                   'flip_direction'))
]

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(
        type='LetterResize',
        scale=img_scale,
        allow_scale_up=False,
        pad_val=dict(img=114)),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'pad_param'))
]

batch_shapes_cfg = dict(
    type='BatchShapePolicy',
    batch_size=val_batch_size_per_gpu,
    img_size=img_scale[0],
    size_divisor=32,
    extra_pad_ratio=0.5)

train_dataloader = dict(
    batch_size=train_batch_size_per_gpu,
    num_workers=train_num_workers,
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
        pipeline=test_pipeline,
        batch_shapes_cfg=batch_shapes_cfg))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=base_lr, batch_size_per_gpu=train_batch_size_per_gpu))

val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val.json', classwise=True)
test_evaluator = val_evaluator

default_hooks = dict(
    # With classwise=True, 'auto' would pick the first metric key, which is
    # the AP of the first class.
    checkpoint=dict(
        interval=save_checkpoint_intervals,
        max_keep_ckpts=2,
        save_best='coco/bbox_mAP',
        rule='greater'),
    # warmup_mim_iter is the minimum number of warm-up iterations; the
    # default 1000 would span most of this short schedule.
    param_scheduler=dict(max_epochs=max_epochs, warmup_mim_iter=50),
    logger=dict(type='LoggerHook', interval=5))

log_processor = dict(window_size=5)

train_cfg = dict(max_epochs=max_epochs, val_interval=val_interval)

# YOLOv5's EMA anneals its momentum over gamma=2000 iterations, longer than
# this whole schedule (1500), so it would hardly average at all; with 200
# the validated weights average the last ~150 iterations at the end.
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0001,
        gamma=200,
        update_buffers=True,
        strict_load=False,
        priority=49)
]

# cuDNN autotuning does nothing on the CPU; the main job trains there.
env_cfg = dict(cudnn_benchmark=False)
