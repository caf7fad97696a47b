"""YOLOv5's target assignment, as plain tensor functions.

Dims: N GT boxes of the batch, A priors (anchors) per position, M matched
(GT, prior, cell) triples of one level. "Grid units" are pixels divided
by the level's stride.

A GT is tried against every prior of every level:

1. shape match: kept when neither the width nor the height ratio of GT to
   prior is ``prior_match_thr`` (4) or more away from 1, in either
   direction; the decoder cannot produce a size beyond 4 times the prior;
2. cells: the cell that holds the GT centre, plus the horizontal and the
   vertical neighbour nearest to the centre when the centre is within
   ``near_neighbor_thr`` of that shared border (the decoder reaches half a
   cell beyond its own, so those cells can predict the GT too).
"""
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData
from torch import Tensor

# (dx, dy) to subtract from the centre, times near_neighbor_thr, for the
# centre cell and the left, upper, right and lower neighbours; the row order
# is also the order of the positives
NEIGHBOUR_OFFSETS = ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1))


class AssignmentConstants(NamedTuple):
    """The fixed tensors of YOLOv5's assignment (the head's buffers)."""
    priors_base_sizes: Tensor  # (levels, A, 2) prior w, h in grid units
    grid_offset: Tensor  # (5, 1, 2) NEIGHBOUR_OFFSETS
    prior_inds: Tensor  # (A, 1) float prior index


def assignment_constants(base_sizes: Sequence[Sequence[Tuple[int, int]]],
                         strides: Sequence[int],
                         num_base_priors: int) -> AssignmentConstants:
    """Prior sizes in grid units and the neighbour offsets."""
    sizes_px = torch.tensor(base_sizes, dtype=torch.float)
    level_strides = torch.tensor(strides, dtype=torch.float)
    return AssignmentConstants(
        priors_base_sizes=sizes_px / level_strides[:, None, None],
        grid_offset=torch.tensor(NEIGHBOUR_OFFSETS,
                                 dtype=torch.float)[:, None],
        prior_inds=torch.arange(num_base_priors,
                                dtype=torch.float).view(-1, 1))


class LevelTargets(NamedTuple):
    """Positive samples of one feature level, one row per positive.

    ``bbox_targets`` are (x, y, w, h) in grid units, with (x, y) relative to
    the top-left corner of the positive's cell.
    """
    img_inds: Tensor
    prior_inds: Tensor
    grid_x_inds: Tensor
    grid_y_inds: Tensor
    class_inds: Tensor
    bbox_targets: Tensor


def _input_hw(img_meta: dict) -> Tuple[int, int]:
    if 'batch_input_shape' not in img_meta:
        raise KeyError(
            'YOLOv5Head needs "batch_input_shape" (h, w) in the image '
            f'meta information, which only has {sorted(img_meta)}')
    h, w = img_meta['batch_input_shape'][:2]
    return h, w


def xyxy_to_norm_cxcywh(bboxes: Tensor, img_h: int, img_w: int) -> Tensor:
    """``(..., 4)`` x1y1x2y2 px -> cx, cy, w, h as fractions of the image."""
    xy1, xy2 = bboxes.split((2, 2), dim=-1)
    cxcywh = torch.cat([(xy1 + xy2) / 2, xy2 - xy1], dim=-1)
    return cxcywh / cxcywh.new_tensor([img_w, img_h, img_w, img_h])


def normalized_gt_rows(batch_gt_instances: Union[Sequence[InstanceData],
                                                 Tensor],
                       batch_img_metas: Sequence[dict]) -> Tensor:
    """The GT of a batch as ``(N, 6)`` rows (img, label, cx, cy, w, h).

    The box is normalised by the batch input size; the rows of the fast
    ``(N, 6)`` tensor all use the size of ``batch_img_metas[0]``.
    """
    if isinstance(batch_gt_instances, Tensor):
        if batch_gt_instances.dim() != 2 or batch_gt_instances.size(1) != 6:
            raise ValueError(
                'bboxes_labels must have shape (num_gt, 6) with rows '
                '(img_idx, label, x1, y1, x2, y2), but got shape '
                f'{tuple(batch_gt_instances.shape)}')
        img_h, img_w = _input_hw(batch_img_metas[0])
        return torch.cat([
            batch_gt_instances[:, :2],
            xyxy_to_norm_cxcywh(batch_gt_instances[:, 2:], img_h, img_w)
        ], 1)
    rows = []
    for img_idx, gt in enumerate(batch_gt_instances):
        img_h, img_w = _input_hw(batch_img_metas[img_idx])
        boxes = get_box_tensor(gt.bboxes)
        rows.append(
            torch.cat([
                boxes.new_full((len(boxes), 1), img_idx),
                gt.labels.to(boxes.dtype)[:, None],
                xyxy_to_norm_cxcywh(boxes, img_h, img_w)
            ], 1))
    return torch.cat(rows) if rows else torch.zeros((0, 6))


def rows_per_prior(rows: Tensor, prior_inds: Tensor) -> Tensor:
    """``(N, 6)`` rows -> ``(A, N, 7)``: a copy per prior, its index
    appended as the last column."""
    rows = rows.to(prior_inds.device)
    num_priors = len(prior_inds)
    inds = prior_inds.to(rows.dtype).expand(num_priors, len(rows))[..., None]
    return torch.cat([rows[None].expand(num_priors, -1, -1), inds], dim=2)


def match_level(gt_per_prior: Tensor, prior_sizes: Tensor,
                grid_offset: Tensor, featmap_size: Tuple[int, int],
                prior_match_thr: float,
                near_neighbor_thr: float) -> Optional[LevelTargets]:
    """Positives of one level (the module docstring's rules 1 and 2).

    Args:
        gt_per_prior (Tensor): ``(A, N, 7)`` from :func:`rows_per_prior`.
        prior_sizes (Tensor): ``(A, 2)`` prior w, h in grid units.
        grid_offset (Tensor): ``(5, 1, 2)``, see ``NEIGHBOUR_OFFSETS``.
        featmap_size (tuple[int, int]): ``(h, w)`` of the level.
        prior_match_thr (float): Rule 1's bound.
        near_neighbor_thr (float): Rule 2's distance to the border.

    Returns:
        LevelTargets | None: Ordered by neighbour offset, then prior, then
        GT; None when nothing matches.
    """
    if gt_per_prior.shape[1] == 0:
        return None
    h, w = featmap_size
    grid = gt_per_prior * gt_per_prior.new_tensor([1, 1, w, h, w, h, 1])
    ratio = grid[..., 4:6] / prior_sizes[:, None]  # (A, N, 2)
    worst_ratio = torch.max(ratio, 1 / ratio).max(dim=2).values
    grid = grid[worst_ratio < prior_match_thr]  # (M0, 7)
    if grid.shape[0] == 0:
        return None

    centre = grid[:, 2:4]
    from_far_side = centre.new_tensor([w, h]) - centre
    # a neighbour counts only if it exists: centre more than a cell inside
    near_low = (centre % 1 < near_neighbor_thr) & (centre > 1)
    near_high = (from_far_side % 1 < near_neighbor_thr) & (from_far_side > 1)
    takes_cell = torch.stack(
        [torch.ones_like(near_low[:, 0]), *near_low.T, *near_high.T])
    grid = grid[None].expand(len(takes_cell), -1, -1)[takes_cell]  # (M, 7)
    offsets = grid_offset.to(grid.dtype).expand(-1, takes_cell.shape[1],
                                                -1)[takes_cell]
    centre = grid[:, 2:4]
    cell = (centre - offsets * near_neighbor_thr).long()
    # a centre on the far border would index one cell past the map
    cell = torch.stack(
        [cell[:, 0].clamp(0, w - 1), cell[:, 1].clamp(0, h - 1)], dim=1)
    return LevelTargets(
        img_inds=grid[:, 0].long(),
        prior_inds=grid[:, 6].long(),
        grid_x_inds=cell[:, 0],
        grid_y_inds=cell[:, 1],
        class_inds=grid[:, 1].long(),
        bbox_targets=torch.cat([centre - cell, grid[:, 4:6]], dim=1))


def decode_positive_xywh(raw: Tensor, prior_sizes: Tensor) -> Tensor:
    """Raw ``(M, 4)`` predictions of positives -> (x, y, w, h) grid units,
    (x, y) from the cell corner: ``2 * sigmoid - 0.5`` and
    ``(2 * sigmoid) ** 2 * prior``."""
    p = raw.sigmoid()
    return torch.cat([p[:, :2] * 2 - 0.5, (p[:, 2:] * 2)**2 * prior_sizes],
                     dim=-1)
