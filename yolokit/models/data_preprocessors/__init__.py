"""Data preprocessors and batch augments of yolokit."""
from .ppyoloe_batch_random_resize import PPYOLOEBatchRandomResize
from .ppyoloe_det_data_preprocessor import PPYOLOEDetDataPreprocessor
from .yolov5_det_data_preprocessor import YOLOv5DetDataPreprocessor
from .yolox_batch_sync_random_resize import YOLOXBatchSyncRandomResize

__all__ = [
    'YOLOv5DetDataPreprocessor', 'PPYOLOEDetDataPreprocessor',
    'PPYOLOEBatchRandomResize', 'YOLOXBatchSyncRandomResize'
]
