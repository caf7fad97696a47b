"""Pascal VOC dataset of the YOLO series."""
import xml.etree.ElementTree as ET

from mmdet.datasets import VOCDataset

from ..registry import DATASETS
from .annotation_errors import AnnotationParseError
from .batch_shape_policy_dataset import BatchShapePolicyDataset


@DATASETS.register_module()
class YOLOv5VOCDataset(BatchShapePolicyDataset, VOCDataset):
    """MMDetection's :class:`VOCDataset` with ``batch_shapes_cfg``.

    See :class:`BatchShapePolicyDataset` for what is added (batch shapes, and
    the dataset handed to the pipeline in training). An XML file that is not
    well-formed raises :class:`AnnotationParseError` (an
    ``ElementTree.ParseError``) naming the file, line and column.
    """

    def parse_data_info(self, img_info: dict) -> dict:
        """Parse one image's XML file as :class:`VOCDataset` does."""
        try:
            return super().parse_data_info(img_info)
        except ET.ParseError as e:
            raise AnnotationParseError(img_info['xml_path'], e) from None
