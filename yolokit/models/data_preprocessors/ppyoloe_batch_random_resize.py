"""PP-YOLOE's multi-scale training: every image of a batch is stretched to
one random square size before normalisation.

Dims: B images, N boxes of the whole batch, C channels.
"""
import random
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.data_preprocessors import BatchSyncRandomResize
from mmengine import MessageHub
from torch import Tensor

from yolokit.registry import MODELS

INTERP_MODES = ('nearest', 'bilinear', 'bicubic', 'area')


class BatchResizeArgumentError(ValueError, AssertionError):
    """A batch resize got settings it cannot work with.

    MMYOLO 0.6.0 checks these with ``assert``; deriving from
    ``AssertionError`` as well keeps code that caught that working.
    """


def resize_image(img: Tensor, size: Tuple[int, int], mode: str) -> Tensor:
    """Stretch one image ``(C, H, W)`` to ``size`` (h, w) -> ``(1, C, h, w)``.

    ``align_corners`` must be left unset for 'nearest' and 'area' (torch
    rejects it there) and is False for the two smooth modes, which samples
    pixel centres like PaddleDetection's resize.
    """
    align_corners = None if mode in ('nearest', 'area') else False
    return F.interpolate(
        img[None], size=size, mode=mode, align_corners=align_corners)


def rescale_batch_boxes(bboxes_labels: Tensor, scales_xy: Tensor) -> Tensor:
    """Scale each box by the factors of its image.

    Args:
        bboxes_labels (Tensor): ``(N, 6)`` rows ``(img_idx, label, x1, y1,
            x2, y2)`` in px.
        scales_xy (Tensor): ``(B, 2)`` per-image ``(scale_x, scale_y)``.

    Returns:
        Tensor: A new ``(N, 6)`` tensor; x coordinates times ``scale_x``,
        y coordinates times ``scale_y`` of the row's image.
    """
    factors = scales_xy.to(bboxes_labels)[bboxes_labels[:, 0].long()]
    out = bboxes_labels.clone()
    out[:, 2::2] = out[:, 2::2] * factors[:, :1]
    out[:, 3::2] = out[:, 3::2] * factors[:, 1:]
    return out


@MODELS.register_module()
class PPYOLOEBatchRandomResize(BatchSyncRandomResize):
    """Resize the images of a batch to one random square size.

    Used as a ``batch_augments`` entry of
    :class:`PPYOLOEDetDataPreprocessor` with ``yolov5_collate(...,
    use_ms_training=True)``: the images arrive as a list of float CHW
    tensors of different sizes, not yet normalised, and leave stacked as
    ``(B, C, s, s)``. Each image is stretched (the aspect ratio is not
    kept), and the boxes of ``data_samples['bboxes_labels']`` are scaled by
    exactly the same x and y factors.

    Every ``interval`` iterations (MessageHub ``iter``, a new draw when
    ``(iter + 1) % interval == 0``, before resizing) a side
    ``s = size_divisor * k`` is drawn with ``k`` uniform over the integers
    ``round(low / size_divisor) .. round(high / size_divisor)`` (Python's
    ``random``), then, with ``random_interp``, one of ``interp_mode``. As in
    MMYOLO the draw is not synchronised between ranks. The current size and
    mode are kept in ``_input_size`` and ``interp_mode``.

    Args:
        random_size_range (tuple[int, int]): Range of the side in px, e.g.
            ``(320, 800)``.
        interval (int): Iterations between draws. Defaults to 1.
        size_divisor (int): The side is a multiple of it. Defaults to 32.
        random_interp (bool): Draw the interpolation from ``interp_mode``
            (a list of at least two modes) instead of using ``interp_mode``
            (one mode name) always. Defaults to True.
        interp_mode (list[str] | str): Modes out of 'nearest', 'bilinear',
            'bicubic' and 'area'. Defaults to all four.
        keep_ratio (bool): Only False (stretch) is supported, as in MMYOLO.
            Defaults to False.
    """

    def __init__(self,
                 random_size_range: Tuple[int, int],
                 interval: int = 1,
                 size_divisor: int = 32,
                 random_interp: bool = True,
                 interp_mode: Union[List[str], str] = [
                     'nearest', 'bilinear', 'bicubic', 'area'
                 ],
                 keep_ratio: bool = False) -> None:
        _check_size_range(random_size_range, size_divisor)
        if not isinstance(interval, int) or interval < 1:
            raise BatchResizeArgumentError(
                f'PPYOLOEBatchRandomResize: interval must be an int >= 1, '
                f'got {interval!r}')
        if keep_ratio:
            raise BatchResizeArgumentError(
                'PPYOLOEBatchRandomResize: keep_ratio=True is not supported '
                '(MMYOLO 0.6.0 stretches every image to a square); set '
                'keep_ratio=False')
        super().__init__(random_size_range, interval, size_divisor)
        self.random_interp = random_interp
        self.keep_ratio = keep_ratio
        if random_interp:
            if isinstance(interp_mode, str) or len(interp_mode) < 2:
                raise BatchResizeArgumentError(
                    'PPYOLOEBatchRandomResize: with random_interp=True, '
                    'interp_mode must be a list of at least two modes, got '
                    f'{interp_mode!r}')
            _check_modes(interp_mode)
            self.interp_mode_list: Optional[List[str]] = list(interp_mode)
            self.interp_mode: Optional[str] = None  # drawn with the size
        else:
            if not isinstance(interp_mode, str):
                raise BatchResizeArgumentError(
                    'PPYOLOEBatchRandomResize: with random_interp=False, '
                    'interp_mode must be one mode name (str), got '
                    f'{interp_mode!r}')
            _check_modes([interp_mode])
            self.interp_mode_list = None
            self.interp_mode = interp_mode

    def forward(self, inputs: Union[Sequence[Tensor], Tensor],
                data_samples: dict) -> Tuple[Tensor, dict]:
        """Resize ``inputs`` to the current size and rescale their boxes.

        Args:
            inputs (list[Tensor] | Tensor): ``B`` images ``(C, H_i, W_i)``
                (or a ``(B, C, H, W)`` batch), float.
            data_samples (dict): ``yolov5_collate``'s dict with
                ``'bboxes_labels'`` ``(N, 6)``.

        Returns:
            tuple[Tensor, dict]: The ``(B, C, s, s)`` batch and a copy of
            ``data_samples`` with rescaled ``'bboxes_labels'``.
        """
        if not isinstance(inputs, (list, tuple, Tensor)):
            raise TypeError(
                'PPYOLOEBatchRandomResize: inputs must be a list of CHW '
                f'tensors, got {type(inputs).__name__}. Use it inside '
                'PPYOLOEDetDataPreprocessor with yolov5_collate('
                'use_ms_training=True).')
        if not isinstance(data_samples, dict) or \
                'bboxes_labels' not in data_samples:
            raise TypeError(
                'PPYOLOEBatchRandomResize: data_samples must be the dict of '
                "yolov5_collate holding 'bboxes_labels', got "
                f'{_describe(data_samples)}')

        iteration = MessageHub.get_current_instance().get_info('iter', 0)
        # MMYOLO assumes iteration 0 draws (interval 1); with a longer
        # interval there would be no size yet, so draw one then as well.
        if (iteration + 1) % self._interval == 0 or self._input_size is None:
            self._input_size, mode = self._draw_size_and_mode()
            if self.random_interp:
                self.interp_mode = mode

        size = self._input_size
        resized, scales = [], []
        for img in inputs:
            h, w = img.shape[-2:]
            scale_x, scale_y = size[1] / w, size[0] / h
            scales.append((scale_x, scale_y))
            if (h, w) == tuple(size):
                resized.append(img[None])
            else:
                resized.append(resize_image(img, size, self.interp_mode))
        out_samples = dict(data_samples)
        out_samples['bboxes_labels'] = rescale_batch_boxes(
            data_samples['bboxes_labels'],
            torch.tensor(scales, dtype=torch.float32))
        return torch.cat(resized, 0), out_samples

    def _draw_size_and_mode(self) -> Tuple[Tuple[int, int], Optional[str]]:
        """A square ``(s, s)`` and, with ``random_interp``, a mode.

        The side is drawn before the mode, both with Python's ``random``,
        so a seeded run repeats MMYOLO's sizes and modes.
        """
        side = self._size_divisor * random.randint(*self._random_size_range)
        mode = None
        if self.random_interp:
            mode = self.interp_mode_list[random.randint(
                0,
                len(self.interp_mode_list) - 1)]
        return (side, side), mode


def _check_size_range(size_range, size_divisor) -> None:
    ok = (
        isinstance(size_range, (tuple, list)) and len(size_range) == 2
        and all(isinstance(v, int) and v > 0 for v in size_range)
        and size_range[0] <= size_range[1])
    if not ok:
        raise BatchResizeArgumentError(
            'PPYOLOEBatchRandomResize: random_size_range must be two ints '
            f'0 < low <= high (px), got {size_range!r}')
    if not isinstance(size_divisor, int) or size_divisor < 1:
        raise BatchResizeArgumentError(
            'PPYOLOEBatchRandomResize: size_divisor must be an int >= 1, '
            f'got {size_divisor!r}')
    if round(size_range[0] / size_divisor) < 1:
        raise BatchResizeArgumentError(
            f'PPYOLOEBatchRandomResize: random_size_range {size_range!r} '
            f'holds no positive multiple of size_divisor={size_divisor}')


def _check_modes(modes: Sequence[str]) -> None:
    unknown = [m for m in modes if m not in INTERP_MODES]
    if unknown:
        raise BatchResizeArgumentError(
            f'PPYOLOEBatchRandomResize: unknown interp_mode {unknown}; '
            f'expected modes out of {list(INTERP_MODES)}')


def _describe(value) -> str:
    if isinstance(value, dict):
        return f'a dict with keys {sorted(value)}'
    return type(value).__name__
