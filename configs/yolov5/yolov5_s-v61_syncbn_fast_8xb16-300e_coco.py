# "fast": YOLOv5DetDataPreprocessor + yolov5_collate. The whole batch's boxes
# travel as one tensor, which trains faster but only suits detection.
_base_ = 'yolov5_s-v61_syncbn_8xb16-300e_coco.py'

model = dict(
    data_preprocessor=dict(
        type='YOLOv5DetDataPreprocessor',
        mean=[0., 0., 0.],
        std=[255., 255., 255.],
        bgr_to_rgb=True))

train_dataloader = dict(collate_fn=dict(type='yolov5_collate'))
