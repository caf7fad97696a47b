# YOLOv5-n with mask-refined boxes: yolov5_s_mask-refine at half width.
_base_ = './yolov5_s_mask-refine-v61_syncbn_fast_8xb16-300e_coco.py'

deepen_factor = 0.33
widen_factor = 0.25

model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor)))
