"""Packing of pipeline results into model inputs and a ``DetDataSample``."""
from mmdet.datasets.transforms import PackDetInputs as MMDET_PackDetInputs
from mmengine.structures import PixelData

from yolokit.registry import TRANSFORMS
from .errors import TransformArgumentError

__all__ = ['PackDetInputs']


@TRANSFORMS.register_module()
class PackDetInputs(MMDET_PackDetInputs):
    """Turn pipeline results into the model's ``inputs`` tensor and a
    ``DetDataSample`` (boxes, masks, seg maps and the extras below).

    On top of what MMDetection packs:

    * keypoints: a ``Keypoints`` object in ``gt_keypoints`` is split into
      ``gt_instances.keypoints`` and ``gt_instances.keypoints_visible``;
    * ``gt_panoptic_seg`` (YOLOv5's overlap masks made by ``Polygon2Mask``)
      becomes ``data_sample.gt_panoptic_seg = PixelData(pan_seg=...)``;
    * every key of ``meta_keys`` must be in the results.

    Instances with ``gt_ignore_flags`` 1 go to ``ignored_instances``.

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo.
            Defaults to ``('img_id', 'img_path', 'ori_shape', 'img_shape',
            'scale_factor', 'flip', 'flip_direction')``.
    """

    mapping_table = {
        'gt_bboxes': 'bboxes',
        'gt_bboxes_labels': 'labels',
        'gt_masks': 'masks',
        'gt_keypoints': 'keypoints',
        'gt_keypoints_visible': 'keypoints_visible'
    }

    def transform(self, results: dict) -> dict:
        """Pack ``results``.

        Args:
            results (dict): Result dict of the data pipeline.

        Returns:
            dict: ``'inputs'``, the CHW image tensor, and ``'data_samples'``,
            the ``DetDataSample``.
        """
        missing = [key for key in self.meta_keys if key not in results]
        if missing:
            raise TransformArgumentError(
                f'PackDetInputs: meta key(s) {missing} not found in the '
                f'results; the available keys are {sorted(results)}. Adjust '
                'meta_keys or the transforms before PackDetInputs.')

        keypoints = results.get('gt_keypoints', None)
        if keypoints is not None and hasattr(keypoints, 'keypoints_visible'):
            # Pack plain arrays instead of the structure; ``results`` itself
            # is left untouched.
            results = dict(results)
            results['gt_keypoints'] = keypoints.keypoints
            results['gt_keypoints_visible'] = keypoints.keypoints_visible

        packed = super().transform(results)
        if 'gt_panoptic_seg' in results:
            packed['data_samples'].gt_panoptic_seg = PixelData(
                pan_seg=results['gt_panoptic_seg'])
        return packed
