"""Data preprocessors and batch augments of yolokit."""
from .yolov5_det_data_preprocessor import YOLOv5DetDataPreprocessor
from .yolox_batch_sync_random_resize import YOLOXBatchSyncRandomResize

__all__ = ['YOLOv5DetDataPreprocessor', 'YOLOXBatchSyncRandomResize']
