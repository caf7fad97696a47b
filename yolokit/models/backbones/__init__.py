"""Backbones of yolokit."""
from .base_backbone import BaseBackbone
from .cspnext import CSPNeXt
from .ppyoloe_csp_resnet import PPYOLOECSPResNet
from .yolov5_csp_darknet import YOLOv5CSPDarknet
from .yolov6_efficient_rep import YOLOv6CSPBep, YOLOv6EfficientRep
from .yolov7_backbone import YOLOv7Backbone
from .yolov8_csp_darknet import YOLOv8CSPDarknet
from .yolox_csp_darknet import YOLOXCSPDarknet

__all__ = [
    'CSPNeXt', 'YOLOv7Backbone', 'YOLOv8CSPDarknet', 'YOLOv5CSPDarknet',
    'BaseBackbone', 'YOLOXCSPDarknet', 'YOLOv6EfficientRep', 'YOLOv6CSPBep',
    'PPYOLOECSPResNet'
]
