"""Necks of yolokit."""
from .base_yolo_neck import BaseYOLONeck
from .cspnext_pafpn import CSPNeXtPAFPN
from .ppyoloe_csppan import PPYOLOECSPPAFPN
from .yolov5_pafpn import YOLOv5PAFPN
from .yolov6_rep_pafpn import (YOLOv6CSPRepBiPAFPN, YOLOv6CSPRepPAFPN,
                               YOLOv6RepBiPAFPN, YOLOv6RepPAFPN)
from .yolov7_pafpn import YOLOv7PAFPN
from .yolov8_pafpn import YOLOv8PAFPN
from .yolox_pafpn import YOLOXPAFPN

__all__ = [
    'CSPNeXtPAFPN', 'YOLOv7PAFPN', 'YOLOv8PAFPN', 'BaseYOLONeck',
    'YOLOv5PAFPN', 'YOLOXPAFPN', 'YOLOv6RepPAFPN', 'YOLOv6CSPRepPAFPN',
    'YOLOv6RepBiPAFPN', 'YOLOv6CSPRepBiPAFPN', 'PPYOLOECSPPAFPN'
]
