"""Backbones of yolokit."""
from .base_backbone import BaseBackbone
from .cspnext import CSPNeXt
from .yolov5_csp_darknet import YOLOv5CSPDarknet
from .yolov8_csp_darknet import YOLOv8CSPDarknet
from .yolox_csp_darknet import YOLOXCSPDarknet

__all__ = [
    'CSPNeXt', 'YOLOv8CSPDarknet', 'YOLOv5CSPDarknet', 'BaseBackbone',
    'YOLOXCSPDarknet'
]
