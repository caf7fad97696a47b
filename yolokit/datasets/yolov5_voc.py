"""Pascal VOC dataset of the YOLO series."""
from mmdet.datasets import VOCDataset

from ..registry import DATASETS
from .batch_shape_policy_dataset import BatchShapePolicyDataset


@DATASETS.register_module()
class YOLOv5VOCDataset(BatchShapePolicyDataset, VOCDataset):
    """MMDetection's :class:`VOCDataset` with ``batch_shapes_cfg``.

    See :class:`BatchShapePolicyDataset` for what is added (batch shapes, and
    the dataset handed to the pipeline in training).
    """
