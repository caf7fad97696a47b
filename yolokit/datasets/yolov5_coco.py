"""COCO-format dataset of the YOLO series."""
import json
from typing import List, Sequence

from mmdet.datasets import CocoDataset
from mmengine.fileio import get_local_path

from ..registry import DATASETS
from .annotation_errors import (AnnotationDecodeError, UnknownClassesError,
                                unknown_classes_message)
from .batch_shape_policy_dataset import BatchShapePolicyDataset


@DATASETS.register_module()
class YOLOv5CocoDataset(BatchShapePolicyDataset, CocoDataset):
    """MMDetection's :class:`CocoDataset` with ``batch_shapes_cfg``.

    See :class:`BatchShapePolicyDataset` for what is added (batch shapes, and
    the dataset handed to the pipeline in training) and
    :class:`~yolokit.datasets.BatchShapePolicy` for the shapes.

    Two mistakes fail here instead of later: an annotation file that is not
    valid JSON (:class:`AnnotationDecodeError`, naming file, line and
    column), and ``metainfo['classes']`` naming a class that no category of
    the file has (:class:`UnknownClassesError`). MMDetection looks the
    categories up by name and silently drops unknown names, so their class
    would never be trained or evaluated.
    """

    def load_data_list(self) -> List[dict]:
        """Parse ``ann_file`` as :class:`CocoDataset` does, then check the
        configured classes against its categories."""
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as e:
            raise AnnotationDecodeError(self.ann_file, e,
                                        'a COCO-format JSON file') from None
        self._check_classes_have_categories()
        return data_list

    def _check_classes_have_categories(self) -> None:
        """Raise if a class set through ``metainfo`` matched no category.

        The default (COCO's 80) classes are exempt: a file with a subset of
        COCO's categories is a legitimate input for them.
        """
        classes: Sequence[str] = self._metainfo['classes']
        if tuple(classes) == tuple(self.METAINFO['classes']):
            return
        if len(self.cat_ids) >= len(set(classes)):
            return  # every name found a category
        # Only on this error path: read the category names once more (the
        # parser has dropped its COCO object).
        with get_local_path(
                self.ann_file, backend_args=self.backend_args) as path:
            with open(path, encoding='utf-8') as f:
                categories = json.load(f).get('categories', [])
        available = [c['name'] for c in categories]
        unknown = [c for c in classes if c not in available]
        if unknown:
            raise UnknownClassesError(
                unknown_classes_message(self.ann_file, unknown, available))
