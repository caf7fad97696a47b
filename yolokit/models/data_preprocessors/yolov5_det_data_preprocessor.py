"""Data preprocessor of the YOLO series' fast training path."""
from typing import Optional

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmengine.model.utils import stack_batch

from yolokit.registry import MODELS


@MODELS.register_module()
class YOLOv5DetDataPreprocessor(DetDataPreprocessor):
    """Normalisation and batch augments for batches from ``yolov5_collate``.

    In training the batch must come from
    :func:`~yolokit.datasets.yolov5_collate`: ``inputs`` is a ``(B, C, H, W)``
    tensor (or, with ``use_ms_training``, a list of CHW tensors, which are
    padded into one batch) and ``data_samples`` a dict holding
    ``bboxes_labels``. The images are converted BGR to RGB (if
    ``bgr_to_rgb`` and 3 channels), normalised with ``(x - mean) / std`` and
    passed through ``batch_augments``. Outside training it behaves exactly
    like MMDetection's ``DetDataPreprocessor``.

    Args:
        non_blocking (bool, optional): Copy to the device without blocking.
            Defaults to True.
        *args, **kwargs: ``DetDataPreprocessor`` arguments (``mean``,
            ``std``, ``bgr_to_rgb``, ``pad_size_divisor``,
            ``batch_augments``, ...).
    """

    def __init__(self, *args, non_blocking: Optional[bool] = True, **kwargs):
        super().__init__(*args, non_blocking=non_blocking, **kwargs)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess one batch.

        Args:
            data (dict): A batch from the dataloader.
            training (bool): Whether this is a training step.

        Returns:
            dict: ``'inputs'``, a float ``(B, C, H, W)`` tensor, and
            ``'data_samples'``: in training a dict with ``'bboxes_labels'``,
            ``'img_metas'`` (``[{'batch_input_shape': (H, W)}] * B``) and,
            when present, ``'masks'``, ``'keypoints'`` and
            ``'keypoints_visible'``; otherwise the list of data samples.
        """
        if not training:
            return super().forward(data, training)

        if not isinstance(data.get('data_samples'), dict):
            raise TypeError(
                'YOLOv5DetDataPreprocessor: in training "data_samples" must '
                'be the dict made by yolov5_collate, but got '
                f'{type(data.get("data_samples")).__name__}. Set '
                "train_dataloader.collate_fn=dict(type='yolov5_collate').")
        data = self.cast_data(data)
        inputs, data_samples = data['inputs'], data['data_samples']

        if isinstance(inputs, torch.Tensor):
            inputs = self._convert_and_normalize(inputs)
        else:  # multi-scale list of CHW tensors
            inputs = stack_batch(
                [self._convert_and_normalize(img[None])[0] for img in inputs],
                self.pad_size_divisor, self.pad_value)

        if self.batch_augments is not None:
            for batch_aug in self.batch_augments:
                inputs, data_samples = batch_aug(inputs, data_samples)

        batch_input_shape = tuple(inputs.shape[2:])
        output = {
            'bboxes_labels':
            data_samples['bboxes_labels'],
            'img_metas': [{
                'batch_input_shape': batch_input_shape
            } for _ in range(len(inputs))]
        }
        for key in ('masks', 'keypoints', 'keypoints_visible'):
            if key in data_samples:
                output[key] = data_samples[key]
        return {'inputs': inputs, 'data_samples': output}

    def _convert_and_normalize(self, inputs: torch.Tensor) -> torch.Tensor:
        """BGR -> RGB if configured, then float and ``(x - mean) / std``."""
        if self._channel_conversion and inputs.shape[1] == 3:
            inputs = inputs[:, [2, 1, 0], ...]
        inputs = inputs.float()
        if self._enable_normalize:
            inputs = (inputs - self.mean) / self.std
        return inputs
