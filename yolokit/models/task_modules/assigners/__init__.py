"""Label assigners of yolokit."""
from .assigner_utils import (select_candidates_in_gts, select_highest_overlaps,
                             yolov6_iou_calculator)
from .batch_atss_assigner import BatchATSSAssigner
from .batch_dynamic_soft_label_assigner import \
    BatchDynamicSoftLabelAssigner
from .batch_task_aligned_assigner import BatchTaskAlignedAssigner
from .batch_yolov7_assigner import BatchYOLOv7Assigner

__all__ = [
    'BatchATSSAssigner',
    'BatchDynamicSoftLabelAssigner',
    'BatchTaskAlignedAssigner', 'BatchYOLOv7Assigner',
    'select_candidates_in_gts',
    'select_highest_overlaps', 'yolov6_iou_calculator'
]
