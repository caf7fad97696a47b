"""The detector every yolokit config builds: backbone, neck, dense head."""
import torch.nn as nn
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.dist import get_world_size
from mmengine.logging import print_log

from yolokit.registry import MODELS


def sync_batchnorm_if_distributed(model: nn.Module) -> bool:
    """Swap every BatchNorm of ``model`` for SyncBatchNorm when more than
    one process trains; returns whether it did.

    Statistics over the global batch matter for the small per-GPU batches
    of detection. In one process plain BatchNorm computes the same thing
    without a process group, so nothing is swapped there.
    """
    if get_world_size() <= 1:
        return False
    nn.SyncBatchNorm.convert_sync_batchnorm(model)
    print_log('Using SyncBatchNorm()', 'current')
    return True


@MODELS.register_module()
class YOLODetector(SingleStageDetector):
    """A one-stage YOLO-family detector.

    ``image -> backbone -> neck -> bbox_head``, with MMDetection's
    ``forward(inputs, data_samples, mode)`` for ``'loss'``, ``'predict'``
    and ``'tensor'``. The head receives ``train_cfg`` and ``test_cfg``.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config.
        bbox_head (dict): Dense head config.
        train_cfg (dict, optional): Training config of the head.
            Defaults to None.
        test_cfg (dict, optional): Post-processing config of the head.
            Defaults to None.
        data_preprocessor (dict, optional): Config of the data preprocessor.
            Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
        use_syncbn (bool): Use SyncBatchNorm in multi-process training (see
            :func:`sync_batchnorm_if_distributed`). Defaults to True.
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
        super().__init__(backbone, neck, bbox_head, train_cfg, test_cfg,
                         data_preprocessor, init_cfg)
        if use_syncbn:
            sync_batchnorm_if_distributed(self)
