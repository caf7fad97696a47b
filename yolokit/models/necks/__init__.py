"""Necks of yolokit."""
from .base_yolo_neck import BaseYOLONeck
from .cspnext_pafpn import CSPNeXtPAFPN
from .yolov5_pafpn import YOLOv5PAFPN
from .yolov8_pafpn import YOLOv8PAFPN
from .yolox_pafpn import YOLOXPAFPN

__all__ = [
    'CSPNeXtPAFPN', 'YOLOv8PAFPN', 'BaseYOLONeck', 'YOLOv5PAFPN', 'YOLOXPAFPN'
]
