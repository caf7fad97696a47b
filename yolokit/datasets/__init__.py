"""Datasets of yolokit, their batch-shape policy and collate function."""
from .batch_shape_policy import BatchShapePolicy
from .batch_shape_policy_dataset import BatchShapePolicyDataset
from .transforms import *  # noqa: F401,F403
from .yolov5_coco import YOLOv5CocoDataset
from .yolov5_collate import yolov5_collate
from .yolov5_crowdhuman import YOLOv5CrowdHumanDataset
from .yolov5_voc import YOLOv5VOCDataset

__all__ = [
    'YOLOv5CocoDataset', 'YOLOv5VOCDataset', 'BatchShapePolicy',
    'BatchShapePolicyDataset', 'yolov5_collate', 'YOLOv5CrowdHumanDataset'
]
