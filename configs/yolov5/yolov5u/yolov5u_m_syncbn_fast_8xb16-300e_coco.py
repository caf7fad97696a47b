# YOLOv5u-m: deeper and wider than s. The training
# hyper-parameters are still those of s (MMYOLO left them to be tuned).
_base_ = './yolov5u_s_syncbn_fast_8xb16-300e_coco.py'

deepen_factor = 0.67
widen_factor = 0.75

model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor)))
