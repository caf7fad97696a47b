"""Box coders of yolokit."""
from .distance_point_bbox_coder import DistancePointBBoxCoder
from .yolov5_bbox_coder import YOLOv5BBoxCoder

__all__ = ['YOLOv5BBoxCoder', 'DistancePointBBoxCoder']
