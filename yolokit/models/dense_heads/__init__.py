"""Dense detection heads of yolokit."""
from .ppyoloe_head import PPYOLOEHead
from .ppyoloe_head_module import PPYOLOEHeadModule
from .rtmdet_head import RTMDetHead
from .rtmdet_sep_bn_head_module import RTMDetSepBNHeadModule
from .yolov5_head import YOLOv5Head
from .yolov5_head_module import YOLOv5HeadModule
from .yolov7_head import YOLOv7Head
from .yolov7_head_module import YOLOv7HeadModule
from .yolov7_p6_head_module import YOLOv7p6HeadModule
from .yolov6_head import YOLOv6Head
from .yolov6_head_module import YOLOv6HeadModule
from .yolov8_head import YOLOv8Head
from .yolov8_head_module import YOLOv8HeadModule
from .yolox_head import YOLOXHead
from .yolox_head_module import YOLOXHeadModule

__all__ = [
    'RTMDetHead', 'RTMDetSepBNHeadModule', 'YOLOv8Head', 'YOLOv8HeadModule',
    'YOLOv5Head', 'YOLOv5HeadModule', 'YOLOv7Head', 'YOLOv7HeadModule',
    'YOLOv7p6HeadModule', 'YOLOXHead', 'YOLOXHeadModule', 'PPYOLOEHeadModule',
    'YOLOv6Head', 'YOLOv6HeadModule', 'PPYOLOEHead'
]
