"""Single-stage detector wrapper shared by all YOLO models."""
import torch
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.dist import get_world_size
from mmengine.logging import print_log

from yolokit.registry import MODELS


@MODELS.register_module()
class YOLODetector(SingleStageDetector):
    """Implementation of YOLO Series.

    An MMDetection :class:`SingleStageDetector` (backbone -> neck ->
    bbox_head, with ``forward(inputs, data_samples, mode)`` for
    ``'loss'``, ``'predict'`` and ``'tensor'``) that can switch its
    BatchNorm layers to SyncBatchNorm in distributed training.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config.
        bbox_head (dict): Bbox head config; ``train_cfg``/``test_cfg`` are
            passed into it.
        train_cfg (dict, optional): Training config. Defaults to None.
        test_cfg (dict, optional): Testing config. Defaults to None.
        data_preprocessor (dict, optional): Config of the data preprocessor.
            Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
        use_syncbn (bool): Convert BatchNorm to SyncBatchNorm when more
            than one process is running. Defaults to True.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 bbox_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 use_syncbn: bool = True):
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=bbox_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)

        # SyncBatchNorm needs an initialized process group; in a single
        # process plain BatchNorm is both equivalent and cheaper.
        if use_syncbn and get_world_size() > 1:
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(self)
            print_log('Using SyncBatchNorm()', 'current')
