# YOLOX-nano, 8 GPUs x 8 images, 300 epochs on COCO: YOLOX-tiny's recipe
# with width 0.25 and depthwise-separable stride-2 convs and head towers.
_base_ = './yolox_tiny_fast_8xb8-300e_coco.py'

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
