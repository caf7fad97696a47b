"""The YOLOv7 head: YOLOv5's anchor-based decoding and prediction path,
with simOTA-refined target assignment (training) and optional auxiliary
branches (P6)."""
from typing import List, Sequence, Union

from mmdet.utils import OptInstanceList
from mmengine.structures import InstanceData
from torch import Tensor

from yolokit.registry import MODELS
from .yolov5_head import YOLOv5Head


@MODELS.register_module()
class YOLOv7Head(YOLOv5Head):
    """YOLOv7 detection head.

    Prediction is :class:`YOLOv5Head`'s (the shared post-processing path):
    in eval mode the P6 head module returns only its main branch.

    Args:
        simota_candidate_topk (int): IoU top-k that sets each GT's dynamic
            k in ``BatchYOLOv7Assigner``. Defaults to 20.
        simota_iou_weight (float): Weight of the IoU cost. Defaults to 3.0.
        simota_cls_weight (float): Weight of the class cost. Defaults to
            1.0.
        aux_loss_weights (float): Weight of the auxiliary-branch losses.
            Defaults to 0.25.
        *args, **kwargs: As :class:`YOLOv5Head`.

    NOTE: the training loss (``BatchYOLOv7Assigner``) is not implemented
    yet; :meth:`loss_by_feat` raises ``NotImplementedError``.
    """

    def __init__(self,
                 *args,
                 simota_candidate_topk: int = 20,
                 simota_iou_weight: float = 3.0,
                 simota_cls_weight: float = 1.0,
                 aux_loss_weights: float = 0.25,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.simota_candidate_topk = simota_candidate_topk
        self.simota_iou_weight = simota_iou_weight
        self.simota_cls_weight = simota_cls_weight
        self.aux_loss_weights = aux_loss_weights

    def loss_by_feat(
            self,
            cls_scores: Sequence[Union[Tensor, List]],
            bbox_preds: Sequence[Union[Tensor, List]],
            objectnesses: Sequence[Union[Tensor, List]],
            batch_gt_instances: Sequence[InstanceData],
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        raise NotImplementedError(
            'YOLOv7Head.loss_by_feat needs BatchYOLOv7Assigner, which '
            'yolokit does not have yet; YOLOv7 models can predict (e.g. '
            'with converted or MMYOLO weights) but not train')
