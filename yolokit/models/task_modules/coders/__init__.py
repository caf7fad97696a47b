"""Box coders of yolokit."""
from .distance_point_bbox_coder import DistancePointBBoxCoder
from .yolov5_bbox_coder import YOLOv5BBoxCoder
from .yolox_bbox_coder import YOLOXBBoxCoder, yolox_deltas

__all__ = ['YOLOv5BBoxCoder', 'DistancePointBBoxCoder', 'YOLOXBBoxCoder',
           'yolox_deltas']
