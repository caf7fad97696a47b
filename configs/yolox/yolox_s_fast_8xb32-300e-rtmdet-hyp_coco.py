# YOLOX-s trained with RTMDet's hyper-parameters, 8 GPUs x 32 images, 300
# epochs on COCO (41.9 box AP against 40.7 with the original recipe).
# Changes: batch 8 -> 32, a new multi-scale size every iteration (10 -> 1),
# 20 instead of 15 final epochs, AdamW (lr 0.004, weight decay 0.05)
# instead of SGD, EMA momentum 0.0001 -> 0.0002.
_base_ = './yolox_s_fast_8xb8-300e_coco.py'

# ========================= modified parameters ==============================
train_batch_size_per_gpu = 32  # 8 -> 32
batch_augments_interval = 1  # 10 -> 1
num_last_epochs = 20  # 15 -> 20
base_lr = 0.004  # for the total batch size 8 x 32 = 256

# SGD -> AdamW, no weight decay on norms and biases.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True))

ema_momentum = 0.0002  # 0.0001 -> 0.0002

# ========================= Unmodified in most cases =========================
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='YOLOXBatchSyncRandomResize',
            random_size_range=(480, 800),
            size_divisor=32,
            interval=batch_augments_interval)
    ]))

param_scheduler = [
    dict(
        # quadratic warm-up over the first 5 epochs, updated per iteration
        type='mmdet.QuadraticWarmupLR',
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        # cosine decay to 5% of base_lr from epoch 5 to 280
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=5,
        T_max=_base_.max_epochs - num_last_epochs,
        end=_base_.max_epochs - num_last_epochs,
        by_epoch=True,
        convert_to_iter_based=True),
    dict(
        # constant learning rate for the last num_last_epochs epochs
        type='ConstantLR',
        by_epoch=True,
        factor=1,
        begin=_base_.max_epochs - num_last_epochs,
        end=_base_.max_epochs,
    )
]

custom_hooks = [
    dict(
        type='YOLOXModeSwitchHook',
        num_last_epochs=num_last_epochs,
        new_train_pipeline=_base_.train_pipeline_stage2,
        priority=48),
    dict(type='mmdet.SyncNormHook', priority=48),
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=ema_momentum,
        update_buffers=True,
        strict_load=False,
        priority=49)
]

train_dataloader = dict(batch_size=train_batch_size_per_gpu)
train_cfg = dict(dynamic_intervals=[(_base_.max_epochs - num_last_epochs, 1)])
auto_scale_lr = dict(base_batch_size=8 * train_batch_size_per_gpu)
