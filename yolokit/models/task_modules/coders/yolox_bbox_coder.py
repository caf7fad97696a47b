"""Box coder of YOLOX: stride-scaled centre offsets and log-space sizes."""
from typing import Union

import torch
from mmdet.models.task_modules.coders.base_bbox_coder import BaseBBoxCoder
from mmdet.structures.bbox import HorizontalBoxes
from torch import Tensor

from yolokit.registry import TASK_UTILS


def yolox_deltas(gt_bboxes: Tensor,
                 points: Tensor,
                 strides: Tensor,
                 eps: float = 1e-8) -> Tensor:
    """The raw head outputs that :meth:`YOLOXBBoxCoder.decode` maps to
    ``gt_bboxes``: the inverse of the decode formulas.

    ``dx = (cx - px) / s`` and ``dw = log(w / s + eps)``; ``eps`` keeps a
    zero-size box finite.

    Args:
        gt_bboxes (Tensor): x1y1x2y2 boxes ``(N, 4)``.
        points (Tensor): Their prior points ``(N, 2)``.
        strides (Tensor): Their priors' strides ``(N,)``.
        eps (float): Added inside the log. Defaults to 1e-8.

    Returns:
        Tensor: ``(N, 4)`` deltas (dx, dy, dw, dh).
    """
    strides = strides[:, None]
    centre = (gt_bboxes[:, :2] + gt_bboxes[:, 2:]) / 2
    size = gt_bboxes[:, 2:] - gt_bboxes[:, :2]
    return torch.cat(
        [(centre - points) / strides,
         torch.log(size / strides + eps)], dim=-1)


@TASK_UTILS.register_module()
class YOLOXBBoxCoder(BaseBBoxCoder):
    """Turns YOLOX's four regression outputs per point into a box.

    A point prior ``(px, py)`` of a level of stride ``s`` (the top-left
    corner of its cell: ``MlvlPointGenerator(offset=0)``, as in the
    original YOLOX) and outputs ``(dx, dy, dw, dh)`` give

    .. code:: text

        centre = (px + dx * s, py + dy * s)
        size   = (s * exp(dw), s * exp(dh))

    returned as x1y1x2y2. :func:`yolox_deltas` is the inverse.

    Args:
        use_box_type (bool): If True, ``decode`` returns
            :class:`~mmdet.structures.bbox.HorizontalBoxes`. Defaults to
            False.
    """

    def encode(self, **kwargs):
        """Returns None, as MMYOLO's coder does.

        The only YOLOX target in delta form is the auxiliary L1 target of
        :class:`YOLOXHead`, which calls :func:`yolox_deltas` directly.
        """

    def decode(self, priors: Tensor, pred_bboxes: Tensor,
               stride: Union[Tensor, int]) -> Union[Tensor, HorizontalBoxes]:
        """Boxes x1y1x2y2 from the outputs (dx, dy, dw, dh), see above.

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
