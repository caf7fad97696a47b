"""Data preprocessor of PP-YOLOE's training: resize first, normalise last."""
from typing import List, Sequence, Union

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmengine.model.utils import stack_batch
from torch import Tensor

from yolokit.registry import MODELS


@MODELS.register_module()
class PPYOLOEDetDataPreprocessor(DetDataPreprocessor):
    """Batch resize before normalisation, for ``yolov5_collate`` batches.

    PaddleDetection resizes the raw (0-255) image and normalises afterwards,
    while MMDetection's ``DetDataPreprocessor`` normalises first. The
    interpolation weights sum to one, so the two orders differ only by float
    rounding, but keeping PaddleDetection's order gives MMYOLO's numbers
    exactly. In training this class:

    1. takes ``inputs`` as the list of CHW images of
       ``yolov5_collate(..., use_ms_training=True)`` (a stacked
       ``(B, C, H, W)`` tensor is accepted too),
    2. reverses the channels if ``bgr_to_rgb`` (3-channel images) and casts
       to float,
    3. runs ``batch_augments`` (e.g. :class:`PPYOLOEBatchRandomResize`,
       which stacks the list); without any, the images are padded into one
       batch (``pad_size_divisor``, ``pad_value``),
    4. normalises with ``(x - mean) / std``.

    Outside training it behaves exactly like ``DetDataPreprocessor``. The
    constructor is ``DetDataPreprocessor``'s, unchanged.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess one batch.

        Args:
            data (dict): A batch from the dataloader.
            training (bool): Whether this is a training step.

        Returns:
            dict: ``'inputs'``, a float ``(B, C, H, W)`` tensor, and
            ``'data_samples'``: in training a dict with ``'bboxes_labels'``
            ``(N, 6)`` and ``'img_metas'`` (``[{'batch_input_shape': (H,
            W)}] * B``); otherwise the list of data samples.
        """
        if not training:
            return super().forward(data, training)

        _check_train_batch(data)
        data = self.cast_data(data)
        images: Union[List[Tensor], Tensor] = [
            self._to_float_rgb(img) for img in data['inputs']
        ]
        data_samples = data['data_samples']
        for batch_aug in self.batch_augments or ():
            images, data_samples = batch_aug(images, data_samples)
        if not isinstance(images, Tensor):
            images = stack_batch(images, self.pad_size_divisor, self.pad_value)

        if self._enable_normalize:
            images = (images - self.mean) / self.std

        batch_input_shape = tuple(images.shape[2:])
        return {
            'inputs': images,
            'data_samples': {
                'bboxes_labels':
                data_samples['bboxes_labels'],
                'img_metas': [{
                    'batch_input_shape': batch_input_shape
                } for _ in range(len(images))]
            }
        }

    def _to_float_rgb(self, img: Tensor) -> Tensor:
        """``(C, H, W)`` -> float ``(C, H, W)``, channels reversed when
        ``bgr_to_rgb`` and C is 3 (reversed before the cast, which moves
        a quarter of the bytes)."""
        if self._channel_conversion and img.shape[0] == 3:
            img = img[[2, 1, 0], ...]
        return img.float()


def _check_train_batch(data: dict) -> None:
    """The training batch must come from ``yolov5_collate``."""
    inputs = data.get('inputs')
    is_images = isinstance(inputs, Tensor) and inputs.dim() == 4 or (
        isinstance(inputs, Sequence) and len(inputs) > 0
        and all(isinstance(i, Tensor) and i.dim() == 3 for i in inputs))
    if not is_images:
        raise TypeError(
            'PPYOLOEDetDataPreprocessor: in training "inputs" must be the '
            'list of CHW image tensors made by yolov5_collate('
            f'use_ms_training=True), got {_describe(inputs)}. See '
            "train_dataloader.collate_fn in configs/ppyoloe.")
    if not isinstance(data.get('data_samples'), dict):
        raise TypeError(
            'PPYOLOEDetDataPreprocessor: in training "data_samples" must be '
            'the dict made by yolov5_collate, got '
            f'{type(data.get("data_samples")).__name__}. Set '
            "train_dataloader.collate_fn=dict(type='yolov5_collate', "
            'use_ms_training=True).')


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f'a tensor of shape {tuple(value.shape)}'
    if isinstance(value, (list, tuple)):
        kinds = sorted({
            f'tensor{tuple(v.shape)}'
            if isinstance(v, torch.Tensor) else type(v).__name__
            for v in value
        })
        return f'a {type(value).__name__} of {kinds}'
    return type(value).__name__
