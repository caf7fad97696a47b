# YOLOv5u-x with mask-refined boxes: yolov5u_l_mask-refine, 1.33 x deeper
# and 1.25 x wider.
_base_ = './yolov5u_l_mask-refine_syncbn_fast_8xb16-300e_coco.py'

deepen_factor = 1.33
widen_factor = 1.25

model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor)))
