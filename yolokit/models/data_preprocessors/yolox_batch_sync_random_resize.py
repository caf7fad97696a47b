"""Multi-scale training by resizing whole batches (YOLOX style)."""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.data_preprocessors import BatchSyncRandomResize
from mmengine import MessageHub

from yolokit.registry import MODELS


@MODELS.register_module()
class YOLOXBatchSyncRandomResize(BatchSyncRandomResize):
    """Resize a batch to a random size shared by all ranks.

    The batch tensor is resized (bilinear) to the current input size and the
    boxes of ``data_samples['bboxes_labels']`` (rows ``(img_idx, label, x1,
    y1, x2, y2)``), keypoints and masks are scaled alike. Every ``interval``
    iterations (MessageHub ``iter``) rank 0 draws a new size, a multiple of
    ``size_divisor`` within ``random_size_range`` keeping the batch's aspect
    ratio, and broadcasts it. The first batch keeps its size.

    Works on the dict made by ``yolov5_collate``; given a list of
    ``DetDataSample`` it behaves like MMDetection's ``BatchSyncRandomResize``.

    Args:
        random_size_range (tuple[int, int]): Range of the (height) size,
            e.g. ``(480, 800)``.
        interval (int): Iterations between size changes. Defaults to 10.
        size_divisor (int): The sizes are multiples of it. Defaults to 32.
    """

    def forward(
        self, inputs: torch.Tensor,
        data_samples: Union[dict,
                            list]) -> Tuple[torch.Tensor, Union[dict, list]]:
        """Resize ``inputs`` and the annotations of ``data_samples``.

        Args:
            inputs (Tensor): Images, ``(B, C, H, W)``.
            data_samples (dict | list): The ``yolov5_collate`` dict, or a
                list of ``DetDataSample``.

        Returns:
            tuple: The resized ``inputs`` and ``data_samples``.
        """
        if not isinstance(data_samples, dict):
            return super().forward(inputs, data_samples)

        h, w = inputs.shape[-2:]
        if self._input_size is None:
            self._input_size = (h, w)
        scale_y = self._input_size[0] / h
        scale_x = self._input_size[1] / w
        if scale_x != 1 or scale_y != 1:
            inputs = F.interpolate(
                inputs,
                size=self._input_size,
                mode='bilinear',
                align_corners=False)
            bboxes_labels = data_samples['bboxes_labels']
            bboxes_labels[:, 2::2] *= scale_x
            bboxes_labels[:, 3::2] *= scale_y
            if 'keypoints' in data_samples:
                data_samples['keypoints'][..., 0] *= scale_x
                data_samples['keypoints'][..., 1] *= scale_y
            if 'masks' in data_samples:
                data_samples['masks'] = self._resize_masks(
                    data_samples['masks'], scale_y, scale_x)

        iteration = MessageHub.get_current_instance().get_info('iter', 0)
        if (iteration + 1) % self._interval == 0:
            self._input_size = self._get_random_size(
                aspect_ratio=float(w / h), device=inputs.device)
        return inputs, data_samples

    @staticmethod
    def _resize_masks(masks: torch.Tensor, scale_y: float,
                      scale_x: float) -> torch.Tensor:
        """Nearest-neighbour resize of ``(N, h, w)`` masks by the scales."""
        if masks.numel() == 0:
            return masks.new_zeros(
                (masks.shape[0], round(masks.shape[-2] * scale_y),
                 round(masks.shape[-1] * scale_x)))
        size = (round(masks.shape[-2] * scale_y),
                round(masks.shape[-1] * scale_x))
        resized = F.interpolate(
            masks[:, None].float(), size=size, mode='nearest')
        return resized[:, 0].to(masks.dtype)
