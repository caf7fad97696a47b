# YOLOv6-s v3.0 on COCO: the v2.0 300-epoch recipe (data, augmentation,
# ATSS for 4 epochs then task-aligned, optimizer, hooks) with the v3.0
# network: the backbone ends in a CSP-SPPF block and also returns its
# stride-4 stage, which the bidirectional-fusion neck (Rep-BiPAN) merges
# into the finest top-down step. The other v3.0 configs inherit from here.
_base_ = './yolov6_s_syncbn_fast_8xb32-300e_coco.py'

model = dict(
    backbone=dict(out_indices=[1, 2, 3, 4], use_cspsppf=True),
    neck=dict(type='YOLOv6RepBiPAFPN', in_channels=[128, 256, 512, 1024]))
