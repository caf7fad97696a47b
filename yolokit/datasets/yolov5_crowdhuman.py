"""CrowdHuman dataset of the YOLO series."""
import json
from typing import List

from mmdet.datasets import CrowdHumanDataset
from mmengine.fileio import get_text

from ..registry import DATASETS
from .annotation_errors import AnnotationDecodeError
from .batch_shape_policy_dataset import BatchShapePolicyDataset


def odgt_line_number(text: str, bad_line: str) -> int:
    """1-based line of ``text`` that is ``bad_line`` (first occurrence).

    The parser decodes the lines in order and stops at the first that
    fails, so the first line equal to the failing one is where it stopped.
    """
    for number, line in enumerate(text.split('\n'), start=1):
        if line.strip() == bad_line.strip():
            return number
    return 0  # not found: the file changed while it was read


@DATASETS.register_module()
class YOLOv5CrowdHumanDataset(BatchShapePolicyDataset, CrowdHumanDataset):
    """MMDetection's :class:`CrowdHumanDataset` with ``batch_shapes_cfg``.

    See :class:`BatchShapePolicyDataset` for what is added (batch shapes, and
    the dataset handed to the pipeline in training). A line of the
    ``.odgt`` file that is not valid JSON raises
    :class:`AnnotationDecodeError` naming the file and its line.
    """

    def load_data_list(self) -> List[dict]:
        """Parse the ``.odgt`` file as :class:`CrowdHumanDataset` does."""
        try:
            return super().load_data_list()
        except json.JSONDecodeError as e:
            # MMDetection decodes each line on its own: find its number.
            text = get_text(self.ann_file, backend_args=self.backend_args)
            raise AnnotationDecodeError(
                self.ann_file,
                e,
                'one JSON object per line (CrowdHuman .odgt)',
                lineno=odgt_line_number(text, e.doc)) from None
