"""Box coder for point priors: boxes as distances to the four sides."""
from typing import Optional, Sequence, Union

from mmdet.models.task_modules.coders import \
    DistancePointBBoxCoder as MMDetDistancePointBBoxCoder
from mmdet.structures.bbox import (BaseBoxes, bbox2distance, distance2bbox,
                                   get_box_tensor)
from torch import Tensor

from yolokit.registry import TASK_UTILS


def _check_shapes(points: Tensor, boxes: Tensor, boxes_name: str) -> None:
    if points.size(-1) != 2:
        raise ValueError('points must end with a dimension of 2 (x, y), but '
                         f'got shape {tuple(points.shape)}')
    if boxes.size(-1) != 4:
        raise ValueError(f'{boxes_name} must end with a dimension of 4, but '
                         f'got shape {tuple(boxes.shape)}')
    if points.size(-2) != boxes.size(-2):
        raise ValueError(
            f'points and {boxes_name} must have the same number of '
            f'priors, but got shapes {tuple(points.shape)} and '
            f'{tuple(boxes.shape)}')


@TASK_UTILS.register_module()
class DistancePointBBoxCoder(MMDetDistancePointBBoxCoder):
    """Encode (x1, y1, x2, y2) boxes as distances (left, top, right,
    bottom) from a prior point, and decode them back.

    Unlike MMDetection's coder, ``decode`` takes distances in units of the
    prior's stride and ``encode`` accepts batched boxes ``(B, N, 4)`` for
    points ``(N, 2)``.

    Args:
        clip_border (bool, optional): Clip decoded boxes to ``max_shape``
            when one is given. Defaults to True.
    """

    def decode(
        self,
        points: Tensor,
        pred_bboxes: Tensor,
        stride: Tensor,
        max_shape: Optional[Union[Sequence[int], Tensor,
                                  Sequence[Sequence[int]]]] = None
    ) -> Tensor:
        """Decode distances to boxes.

        ``x1 = px - l * s``, ``y1 = py - t * s``, ``x2 = px + r * s``,
        ``y2 = py + b * s``.

        Args:
            points (Tensor): Prior points ``(N, 2)`` or ``(B, N, 2)``.
            pred_bboxes (Tensor): Distances (left, top, right, bottom) in
                stride units, ``(N, 4)`` or ``(B, N, 4)``.
            stride (Tensor): Stride of each prior, ``(N,)``.
            max_shape (Sequence[int] | Tensor | Sequence[Sequence[int]],
                optional): ``(H, W)`` bound(s) to clip to.

        Returns:
            Tensor: Boxes ``(B, N, 4)`` (``B`` is 1 for unbatched input).
        """
        _check_shapes(points, pred_bboxes, 'pred_bboxes')
        if self.clip_border is False:
            max_shape = None
        distances = pred_bboxes * stride[None, :, None]
        return distance2bbox(points, distances, max_shape)

    def encode(self,
               points: Tensor,
               gt_bboxes: Union[Tensor, BaseBoxes],
               max_dis: Optional[float] = 16.,
               eps: float = 0.01) -> Tensor:
        """Encode boxes as distances from the points.

        Args:
            points (Tensor): Points ``(N, 2)`` or ``(B, N, 2)``.
            gt_bboxes (Tensor | BaseBoxes): Boxes ``(N, 4)`` or
                ``(B, N, 4)`` in x1y1x2y2, in the units of ``points``.
            max_dis (float, optional): Distances are clamped to
                ``[0, max_dis - eps]`` (the DFL target range); None keeps
                them unclamped. Defaults to 16.
            eps (float): Margin below ``max_dis``. Defaults to 0.01.

        Returns:
            Tensor: Distances (left, top, right, bottom), shape of
            ``gt_bboxes``.
        """
        gt_bboxes = get_box_tensor(gt_bboxes)
        _check_shapes(points, gt_bboxes, 'gt_bboxes')
        return bbox2distance(points, gt_bboxes, max_dis, eps)
