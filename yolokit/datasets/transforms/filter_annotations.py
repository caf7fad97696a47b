"""Filtering of degenerate instances, optionally by visible keypoints."""
from typing import Optional

from mmdet.datasets.transforms import \
    FilterAnnotations as MMDET_FilterAnnotations
from mmdet.structures.bbox import autocast_box_type

from yolokit.registry import TRANSFORMS

__all__ = ['FilterAnnotations']


@TRANSFORMS.register_module()
class FilterAnnotations(MMDET_FilterAnnotations):
    """Drop invalid instances; optionally those without visible keypoints.

    The box and mask tests are MMDetection's (``by_box``: width and height
    larger than ``min_gt_bbox_wh``; ``by_mask``: mask area at least
    ``min_gt_mask_area``). With ``by_keypoints`` an instance must also have
    at least one visible keypoint. All enabled tests must pass.

    Required Keys:

    - gt_bboxes (BaseBoxes[torch.float32])
    - gt_bboxes_labels, gt_masks, gt_ignore_flags, gt_keypoints (optional)

    Modified Keys:

    - gt_bboxes, gt_bboxes_labels, gt_masks, gt_ignore_flags, gt_keypoints

    Args:
        by_keypoints (bool): Require a visible keypoint per instance.
            Defaults to False.
        **kwargs: MMDetection's ``FilterAnnotations`` arguments:
            ``min_gt_bbox_wh=(1, 1)``, ``min_gt_mask_area=1``,
            ``by_box=True``, ``by_mask=False``, ``keep_empty=True`` (return
            None when no instance is left).
    """

    _FILTERED_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_masks',
                      'gt_ignore_flags', 'gt_keypoints')

    def __init__(self, by_keypoints: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.by_keypoints = by_keypoints

    @autocast_box_type()
    def transform(self, results: dict) -> Optional[dict]:
        """Keep the instances that pass every enabled test.

        Args:
            results (dict): Result dict.

        Returns:
            dict | None: The filtered results, or None if nothing is left and
            ``keep_empty`` is True.
        """
        if 'gt_bboxes' not in results:
            raise KeyError('FilterAnnotations needs "gt_bboxes" in the '
                           f'results; got keys {sorted(results)}')
        gt_bboxes = results['gt_bboxes']
        if gt_bboxes.shape[0] == 0:
            return results

        keep = None
        if self.by_box:
            keep = ((gt_bboxes.widths > self.min_gt_bbox_wh[0]) &
                    (gt_bboxes.heights > self.min_gt_bbox_wh[1])).numpy()
        if self.by_mask:
            if 'gt_masks' not in results:
                raise KeyError('FilterAnnotations(by_mask=True) needs '
                               '"gt_masks" in the results')
            ok = results['gt_masks'].areas >= self.min_gt_mask_area
            keep = ok if keep is None else keep & ok
        if self.by_keypoints:
            if 'gt_keypoints' not in results:
                raise KeyError('FilterAnnotations(by_keypoints=True) needs '
                               '"gt_keypoints" in the results')
            num_visible = results['gt_keypoints'].num_keypoints
            ok = (num_visible > 0)
            ok = ok.numpy() if hasattr(ok, 'numpy') else ok
            keep = ok if keep is None else keep & ok

        if not keep.any() and self.keep_empty:
            return None
        for key in self._FILTERED_KEYS:
            if key in results:
                results[key] = results[key][keep]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'min_gt_bbox_wh={self.min_gt_bbox_wh}, '
                f'min_gt_mask_area={self.min_gt_mask_area}, '
                f'by_box={self.by_box}, by_mask={self.by_mask}, '
                f'by_keypoints={self.by_keypoints}, '
                f'keep_empty={self.keep_empty})')
