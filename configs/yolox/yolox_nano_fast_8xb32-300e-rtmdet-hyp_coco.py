# YOLOX-nano trained with RTMDet's hyper-parameters, 8 GPUs x 32 images,
# 300 epochs on COCO: the YOLOX-tiny RTMDet-hyp recipe with width 0.25 and
# depthwise-separable stride-2 convs and head towers.
_base_ = './yolox_tiny_fast_8xb32-300e-rtmdet-hyp_coco.py'

# ========================= modified parameters ==============================
deepen_factor = 0.33
widen_factor = 0.25
use_depthwise = True

# ========================= Unmodified in most cases =========================
model = dict(
    backbone=dict(
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        use_depthwise=use_depthwise),
    neck=dict(
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        use_depthwise=use_depthwise),
    bbox_head=dict(
        head_module=dict(
            widen_factor=widen_factor, use_depthwise=use_depthwise)))
