# ImageNet-1k pretraining of the CSPNeXt-s backbone (RSB-A1 recipe, 600
# epochs, 8 GPUs x 256 images), which produced the `cspnext-s_imagenet_600e`
# checkpoint that rtmdet_s_* configs load.
#
# This is an MMPretrain config: train it with MMPretrain's tools, e.g.
#   mim train mmpretrain configs/rtmdet/cspnext_imagenet_pretrain/\
#       cspnext-s_8xb256-rsb-a1-600e_in1k.py
# MMYOLO v0.6.0 wrote it for MMClassification 1.x (`mmcls::` bases), which
# does not support mmcv 2.1; MMPretrain is its successor with the same base
# files and model types. Without MMPretrain installed, loading this config
# raises "mmpretrain is not installed".
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs256_rsb_a12.py',
    'mmpretrain::_base_/schedules/imagenet_bs2048_rsb.py',
    'mmpretrain::_base_/default_runtime.py'
]

custom_imports = dict(
    imports=['mmdet.models', 'yolokit.models'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='yolokit.CSPNeXt',
        arch='P5',
        out_indices=(4, ),
        expand_ratio=0.5,
        deepen_factor=0.33,
        widen_factor=0.5,
        channel_attention=True,
        norm_cfg=dict(type='BN'),
        # 'SiLU' resolves in any scope (upstream: 'mmyolo.SiLU', which needs
        # SiLU registered in the package's own registry)
        act_cfg=dict(type='SiLU')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original',
            loss_weight=1.0),
        topk=(1, 5)),
    # MMPretrain's batch augments take the number of classes from the data
    # preprocessor (MMClassification's took num_classes=1000 here).
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.2),
        dict(type='CutMix', alpha=1.0)
    ]))

# dataset settings
train_dataloader = dict(sampler=dict(type='RepeatAugSampler', shuffle=True))

# schedule settings
optim_wrapper = dict(
    optimizer=dict(weight_decay=0.01),
    paramwise_cfg=dict(bias_decay_mult=0., norm_decay_mult=0.),
)

param_scheduler = [
    # warm up learning rate scheduler
    dict(
        type='LinearLR',
        start_factor=0.0001,
        by_epoch=True,
        begin=0,
        end=5,
        # update by iter
        convert_to_iter_based=True),
    # main learning rate scheduler
    dict(
        type='CosineAnnealingLR',
        T_max=595,
        eta_min=1.0e-6,
        by_epoch=True,
        begin=5,
        end=600)
]

train_cfg = dict(by_epoch=True, max_epochs=600)
