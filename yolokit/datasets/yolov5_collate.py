"""The fast collate function of the YOLO series' training."""
from typing import List, Optional, Sequence

import torch
from mmengine.registry import FUNCTIONS


class BatchShapeError(ValueError, RuntimeError):
    """The images of a batch differ in shape and cannot be stacked.

    A ``RuntimeError`` as well, which ``torch.stack`` (and so MMYOLO's
    collate) raises for the same batch.
    """


def _as_tensor_masks(masks, sample_idx: int) -> torch.Tensor:
    if isinstance(masks, torch.Tensor):
        return masks
    bitmaps = getattr(masks, 'masks', None)
    if type(masks).__name__ == 'BitmapMasks' and bitmaps is not None:
        return torch.as_tensor(bitmaps)
    raise TypeError(
        f'yolov5_collate: gt_instances.masks of sample {sample_idx} is a '
        f'{type(masks).__name__}; expected a tensor (N, H, W) as produced by '
        'the Polygon2Mask transform.')


@FUNCTIONS.register_module()
def yolov5_collate(data_batch: Sequence,
                   use_ms_training: bool = False,
                   *,
                   _scope_: Optional[str] = None) -> dict:
    """Collate samples into one tensor of all boxes of the batch.

    Instead of a list of ``DetDataSample``, the boxes of every image are
    concatenated into one ``(N, 6)`` tensor with rows
    ``(img_idx, label, x1, y1, x2, y2)``, which the YOLO heads consume
    directly; this is much faster than per-sample structures.

    Args:
        data_batch (Sequence[dict]): Outputs of ``PackDetInputs``: dicts with
            ``'inputs'`` (CHW tensor) and ``'data_samples'``
            (``DetDataSample``).
        use_ms_training (bool): Multi-scale training, where images may differ
            in size: ``'inputs'`` stays a list of CHW tensors instead of being
            stacked. Defaults to False.
        _scope_ (str, optional): Ignored. MMEngine adds it to every config
            dict with a ``type`` when a config is inherited with a scope
            prefix (``yolokit::``), and the runner passes the remaining
            collate config as keywords.

    Returns:
        dict: ``'inputs'``: a ``(B, C, H, W)`` tensor (or a list of CHW
        tensors if ``use_ms_training``); ``'data_samples'``: a dict with
        ``'bboxes_labels'`` (float32 ``(N, 6)``) and, when the samples have
        them, ``'masks'`` (concatenated instance masks, or the ``(1, H, W)``
        overlap masks of ``gt_panoptic_seg`` giving ``(B, H, W)``),
        ``'keypoints'`` and ``'keypoints_visible'``.
    """
    imgs: List[torch.Tensor] = []
    bboxes_labels: List[torch.Tensor] = []
    masks: List[torch.Tensor] = []
    keypoints: List[torch.Tensor] = []
    keypoints_visible: List[torch.Tensor] = []

    for i, item in enumerate(data_batch):
        if 'inputs' not in item or 'data_samples' not in item:
            raise KeyError(
                'yolov5_collate expects dicts with "inputs" and '
                f'"data_samples" (the output of PackDetInputs); item {i} has '
                f'keys {sorted(item)}')
        imgs.append(item['inputs'])
        sample = item['data_samples']
        gt = sample.gt_instances

        boxes = gt.bboxes
        boxes = getattr(boxes, 'tensor', boxes)  # BaseBoxes -> Tensor
        labels = gt.labels
        img_idx = boxes.new_full((len(labels), 1), i)
        rows = torch.cat([img_idx, labels[:, None].to(boxes.dtype), boxes], 1)
        bboxes_labels.append(rows)

        if 'masks' in gt:
            masks.append(_as_tensor_masks(gt.masks, i))
        if 'gt_panoptic_seg' in sample:
            masks.append(sample.gt_panoptic_seg.pan_seg)
        if 'keypoints' in gt:
            keypoints.append(gt.keypoints)
            keypoints_visible.append(gt.keypoints_visible)

    data_samples = {'bboxes_labels': torch.cat(bboxes_labels, 0)}
    if masks:
        data_samples['masks'] = torch.cat(masks, 0)
    if keypoints:
        data_samples['keypoints'] = torch.cat(keypoints, 0)
        data_samples['keypoints_visible'] = torch.cat(keypoints_visible, 0)

    if use_ms_training:
        inputs = imgs
    else:
        shapes = {tuple(img.shape) for img in imgs}
        if len(shapes) > 1:
            raise BatchShapeError(
                'yolov5_collate: images of one batch must have the same shape '
                f'to be stacked, got {sorted(shapes)}. Resize them to a fixed '
                'size in the pipeline, or set use_ms_training=True.')
        inputs = torch.stack(imgs, 0)
    return {'inputs': inputs, 'data_samples': data_samples}
