# YOLOv6-m v3.0: the v2.0 m recipe (CSPBep backbone of RepVGG blocks,
# hidden ratio 2/3, MixUp in the first stage) with the v3.0 network changes
# of yolov6_v3_s (CSP-SPPF, stride-4 output, CSP Rep-BiPAN neck); the head
# regresses each side as a distribution over 17 distance bins
# (reg_max=16) and uses its expectation.
_base_ = './yolov6_m_syncbn_fast_8xb32-300e_coco.py'

model = dict(
    backbone=dict(out_indices=[1, 2, 3, 4], use_cspsppf=True),
    neck=dict(
        type='YOLOv6CSPRepBiPAFPN', in_channels=[128, 256, 512, 1024]),
    bbox_head=dict(head_module=dict(reg_max=16)))
