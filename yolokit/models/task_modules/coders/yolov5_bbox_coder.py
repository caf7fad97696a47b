"""Box coder of YOLOv5: bounded centre offsets and squared-sigmoid sizes."""
from typing import Union

import torch
from mmdet.models.task_modules.coders.base_bbox_coder import BaseBBoxCoder
from mmdet.structures.bbox import HorizontalBoxes
from torch import Tensor

from yolokit.registry import TASK_UTILS


@TASK_UTILS.register_module()
class YOLOv5BBoxCoder(BaseBBoxCoder):
    """YOLOv5 box coder.

    With ``p = sigmoid(pred)``, a prior box of centre ``(cx, cy)`` and size
    ``(w, h)`` and the level stride ``s``, the decoded box has

    - centre ``cx + (2 * p_x - 1) * s``, i.e. the centre may move by up to
      one stride either way (half a cell beyond the cell it starts in, since
      MMDetection's anchors are centred in their cell);
    - size ``w * (2 * p_w) ** 2``, i.e. between 0 and 4 times the prior.

    Args:
        use_box_type (bool): If True, ``decode`` returns
            :class:`~mmdet.structures.bbox.HorizontalBoxes`. Defaults to
            False.
    """

    def encode(self, **kwargs) -> Tensor:
        """Raw predictions (logits) that :meth:`decode` maps to given boxes.

        MMYOLO's coder leaves this unimplemented because YOLOv5Head builds its
        regression targets itself; here it is the exact inverse of
        :meth:`decode` for boxes the decoder can represent (centre within one
        stride of the prior centre, size below 4 times the prior). Other boxes
        are clipped to the representable range.

        Keyword Args:
            priors (Tensor): Prior boxes ``(..., 4)`` in (x1, y1, x2, y2).
            gt_bboxes (Tensor): Boxes to encode ``(..., 4)``, (x1, y1, x2,
                y2).
            stride (Tensor | int): Stride of each prior, broadcastable to
                ``priors.shape[:-1]``.
            eps (float): Margin that keeps the logits finite.
                Defaults to 1e-6.

        Returns:
            Tensor: Encoded predictions ``(..., 4)``.
        """
        missing = [
            k for k in ('priors', 'gt_bboxes', 'stride') if k not in kwargs
        ]
        if missing:
            raise TypeError('YOLOv5BBoxCoder.encode needs the keyword '
                            f'arguments priors, gt_bboxes and stride; missing '
                            f'{missing}')
        priors, gt_bboxes = kwargs['priors'], kwargs['gt_bboxes']
        stride, eps = kwargs['stride'], kwargs.get('eps', 1e-6)
        priors = getattr(priors, 'tensor', priors)
        gt_bboxes = getattr(gt_bboxes, 'tensor', gt_bboxes)

        prior_ctr = (priors[..., :2] + priors[..., 2:]) / 2
        prior_wh = priors[..., 2:] - priors[..., :2]
        gt_ctr = (gt_bboxes[..., :2] + gt_bboxes[..., 2:]) / 2
        gt_wh = gt_bboxes[..., 2:] - gt_bboxes[..., :2]
        if isinstance(stride, Tensor):
            stride = stride[..., None]

        p_xy = (gt_ctr - prior_ctr) / (2 * stride) + 0.5
        p_wh = torch.sqrt(gt_wh / prior_wh) / 2
        p = torch.cat([p_xy, p_wh], dim=-1).clamp(eps, 1 - eps)
        return torch.logit(p)

    def decode(self, priors: Tensor, pred_bboxes: Tensor,
               stride: Union[Tensor, int]) -> Union[Tensor, HorizontalBoxes]:
        """Decode raw predictions into boxes.

        Args:
            priors (Tensor): Prior boxes (anchors) ``(..., 4)`` in (x1, y1,
                x2, y2), e.g. ``(N, 4)`` or ``(1, N, 4)``.
            pred_bboxes (Tensor): Raw predictions ``(..., 4)`` broadcastable
                with ``priors``, e.g. ``(B, N, 4)``.
            stride (Tensor | int): Stride of each prior, ``(N,)`` or a
                number.

        Returns:
            Tensor | HorizontalBoxes: Decoded (x1, y1, x2, y2) boxes.
        """
        priors = getattr(priors, 'tensor', priors)
        if pred_bboxes.size(-1) != 4 or priors.size(-1) != 4:
            raise ValueError('YOLOv5BBoxCoder.decode expects 4 values in the '
                             'last dimension of priors and pred_bboxes, but '
                             f'got shapes {tuple(priors.shape)} and '
                             f'{tuple(pred_bboxes.shape)}')
        p = pred_bboxes.sigmoid()
        prior_cx = (priors[..., 0] + priors[..., 2]) / 2
        prior_cy = (priors[..., 1] + priors[..., 3]) / 2
        prior_w = priors[..., 2] - priors[..., 0]
        prior_h = priors[..., 3] - priors[..., 1]

        cx = prior_cx + (p[..., 0] - 0.5) * 2 * stride
        cy = prior_cy + (p[..., 1] - 0.5) * 2 * stride
        w = prior_w * (2 * p[..., 2])**2
        h = prior_h * (2 * p[..., 3])**2
        bboxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
                             dim=-1)
        if self.use_box_type:
            bboxes = HorizontalBoxes(bboxes)
        return bboxes
