"""Data transforms of yolokit, registered in ``yolokit.registry.TRANSFORMS``.

The export list follows MMYOLO v0.6.0's ``mmyolo.datasets.transforms``
except ``RegularizeRotatedBox`` (rotated boxes), which belongs to a family
yolokit does not ship yet.
"""
from mmcv.transforms import Compose as _Compose

from yolokit.registry import TRANSFORMS as _TRANSFORMS
from .base_mix_image_transform import BaseMixImageTransform
from .filter_annotations import FilterAnnotations
from .hsv_random_aug import YOLOv5HSVRandomAug
from .keep_ratio_resize import YOLOv5KeepRatioResize
from .letter_resize import LetterResize
from .load_annotations import LoadAnnotations
from .mmdet_transform_overrides import RandomAffine, RandomFlip, Resize
from .mosaic import Mosaic
from .mosaic9 import Mosaic9
from .pack_det_inputs import PackDetInputs
from .polygon2mask import Polygon2Mask
from .ppyoloe_random_crop import PPYOLOERandomCrop
from .ppyoloe_random_distort import PPYOLOERandomDistort
from .remove_data_element import RemoveDataElement
from .yolov5_copy_paste import YOLOv5CopyPaste
from .yolov5_mixup import YOLOv5MixUp
from .yolov5_random_affine import YOLOv5RandomAffine
from .yolox_mixup import YOLOXMixUp

# TestTimeAug branches in configs use `type='Compose'`; MMDetection registers
# no Compose of its own, so resolve it in the yolokit scope to mmcv's.
_TRANSFORMS.register_module(module=_Compose, force=True)

__all__ = [
    'YOLOv5KeepRatioResize', 'LetterResize', 'Mosaic', 'Mosaic9',
    'YOLOXMixUp', 'YOLOv5MixUp', 'YOLOv5HSVRandomAug', 'LoadAnnotations',
    'YOLOv5RandomAffine', 'YOLOv5CopyPaste', 'RemoveDataElement',
    'Polygon2Mask', 'PackDetInputs', 'RandomAffine', 'RandomFlip', 'Resize',
    'FilterAnnotations', 'BaseMixImageTransform',
    'PPYOLOERandomDistort', 'PPYOLOERandomCrop'
]
