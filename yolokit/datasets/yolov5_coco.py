"""COCO-format dataset of the YOLO series."""
from mmdet.datasets import CocoDataset

from ..registry import DATASETS
from .batch_shape_policy_dataset import BatchShapePolicyDataset


@DATASETS.register_module()
class YOLOv5CocoDataset(BatchShapePolicyDataset, CocoDataset):
    """MMDetection's :class:`CocoDataset` with ``batch_shapes_cfg``.

    See :class:`BatchShapePolicyDataset` for what is added (batch shapes, and
    the dataset handed to the pipeline in training) and
    :class:`~yolokit.datasets.BatchShapePolicy` for the shapes.
    """
