# Test-time augmentation for P5 (640x640) detectors, used by
# `tools/test.py --tta`: every image is run at 3 scales x 2 flips = 6 views,
# and DetTTAModel maps the 6 results back to the original image and merges
# them with NMS.
#
#                          LoadImageFromFile
#            /                     |                      \
#   (KeepRatio+Letter 640)  (KeepRatio+Letter 320)  (KeepRatio+Letter 960)
#      /        \             /         \              /         \
#   flip     no flip       flip      no flip        flip      no flip
#     |         |            |          |             |          |
#  LoadAnn   LoadAnn      LoadAnn    LoadAnn       LoadAnn    LoadAnn
#     |         |            |          |             |          |
#  PackDet   PackDet      PackDet    PackDet       PackDet    PackDet

# Not `backend_args`: configs inherit this file together with
# default_runtime.py, which defines that name, and two bases must not define
# the same key.
_backend_args = None

tta_model = dict(
    type='mmdet.DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.65), max_per_img=300))

img_scales = [(640, 640), (320, 320), (960, 960)]

_multiscale_resize_transforms = [
    dict(
        type='Compose',
        transforms=[
            dict(type='YOLOv5KeepRatioResize', scale=s),
            dict(
                type='LetterResize',
                scale=s,
                allow_scale_up=False,
                pad_val=dict(img=114))
        ]) for s in img_scales
]

tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_backend_args),
    dict(
        type='TestTimeAug',
        # TestTimeAug runs the Cartesian product of these lists.
        transforms=[
            _multiscale_resize_transforms,
            [
                dict(type='mmdet.RandomFlip', prob=1.),
                dict(type='mmdet.RandomFlip', prob=0.)
            ], [dict(type='mmdet.LoadAnnotations', with_bbox=True)],
            [
                dict(
                    type='mmdet.PackDetInputs',
                    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                               'scale_factor', 'pad_param', 'flip',
                               'flip_direction'))
            ]
        ])
]
