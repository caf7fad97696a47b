"""Box coder of YOLOX: stride-scaled centre offsets and log-space sizes."""
from typing import Union

import torch
from mmdet.models.task_modules.coders.base_bbox_coder import BaseBBoxCoder
from mmdet.structures.bbox import HorizontalBoxes
from torch import Tensor

from yolokit.registry import TASK_UTILS


@TASK_UTILS.register_module()
class YOLOXBBoxCoder(BaseBBoxCoder):
    """YOLOX BBox coder.

    Decodes the raw regression output ``(dx, dy, dw, dh)`` of an
    anchor-free YOLOX head into ``(tl_x, tl_y, br_x, br_y)`` boxes. For a
    point prior ``(px, py)`` on a level of stride ``s``:

    .. code:: text

        cx = px + dx * s        cy = py + dy * s
        w  = exp(dw) * s        h  = exp(dh) * s

    (the prior points come from ``MlvlPointGenerator(offset=0)``, i.e. they
    are the top-left corners of the grid cells, as in the original YOLOX).

    Args:
        use_box_type (bool): If True, ``decode`` returns
            :class:`~mmdet.structures.bbox.HorizontalBoxes`. Defaults to
            False.
    """

    def encode(self, **kwargs):
        """Encode deltas between bboxes and ground truth boxes.

        Not needed: :class:`YOLOXHead` builds its own (auxiliary L1)
        regression targets. Like MMYOLO's coder this is a no-op that returns
        None.
        """

    def decode(self, priors: Tensor, pred_bboxes: Tensor,
               stride: Union[Tensor, int]) -> Union[Tensor, HorizontalBoxes]:
        """Decode regression results (delta_x, delta_y, log_w, log_h) to
        boxes (tl_x, tl_y, br_x, br_y).

        Args:
            priors (Tensor): Prior points ``(num_priors, 2)`` (x, y); extra
                trailing columns (e.g. the strides of ``grid_priors(...,
                with_stride=True)``) are ignored.
            pred_bboxes (Tensor): Encoded boxes ``(num_priors, 4)`` or
                ``(batch, num_priors, 4)``.
            stride (Tensor | int): Stride of every prior, ``(num_priors,)``,
                or one number for all priors.

        Returns:
            Tensor | HorizontalBoxes: Decoded boxes ``(batch, num_priors,
            4)``; an unbatched input gets a leading batch dimension of 1.
        """
        priors = getattr(priors, 'tensor', priors)
        if pred_bboxes.size(-1) != 4:
            raise ValueError('YOLOXBBoxCoder.decode expects 4 values per box '
                             f'in pred_bboxes, got shape '
                             f'{tuple(pred_bboxes.shape)}')
        if isinstance(stride, Tensor):
            stride = stride.to(pred_bboxes.dtype)[None, :, None]
        points = priors[..., :2].to(pred_bboxes.dtype)
        xys = pred_bboxes[..., :2] * stride + points
        whs = pred_bboxes[..., 2:].exp() * stride
        half = whs / 2
        bboxes = torch.cat([xys - half, xys + half], dim=-1)
        if bboxes.dim() == 2:
            bboxes = bboxes[None]
        if self.use_box_type:
            bboxes = HorizontalBoxes(bboxes)
        return bboxes
