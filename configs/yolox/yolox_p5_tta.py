# Test-time augmentation of the YOLOX configs, used by `tools/test.py --tta`:
# every image is run at 3 scales x 2 flips = 6 views (resize keeping the
# ratio, pad to a square), and DetTTAModel maps the 6 results back to the
# original image and merges them with NMS.
#
#                          LoadImageFromFile
#            /                     |                      \
#      Resize 640             Resize 320              Resize 960
#      /        \             /         \             /         \
#   flip     no flip       flip      no flip       flip      no flip
#     |         |            |          |            |          |
#    Pad       Pad          Pad        Pad          Pad        Pad
#     |         |            |          |            |          |
#  PackDet   PackDet      PackDet    PackDet      PackDet    PackDet

# Not `backend_args`: the YOLOX configs inherit this file together with
# default_runtime.py, which defines that name, and two bases must not define
# the same key.
_backend_args = None

tta_model = dict(
    type='mmdet.DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.65), max_per_img=300))

img_scales = [(640, 640), (320, 320), (960, 960)]

tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_backend_args),
    dict(
        type='TestTimeAug',
        # TestTimeAug runs the Cartesian product of these lists.
        transforms=[
            [
                dict(type='mmdet.Resize', scale=s, keep_ratio=True)
                for s in img_scales
            ],
            [
                # Flip before padding: the flip of the padded image could
                # not be undone on the boxes.
                dict(type='mmdet.RandomFlip', prob=1.),
                dict(type='mmdet.RandomFlip', prob=0.)
            ],
            [
                dict(
                    type='mmdet.Pad',
                    pad_to_square=True,
                    pad_val=dict(img=(114.0, 114.0, 114.0))),
            ],
            [
                dict(
                    type='mmdet.PackDetInputs',
                    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                               'scale_factor', 'flip', 'flip_direction'))
            ]
        ])
]
