"""``Keypoints``: per-instance 2-D keypoints that move like mmdet boxes.

Dims: N instances, K keypoints per instance. Coordinates are pixels with x
to the right and y down; every ``img_shape`` argument is ``(height,
width)``, every pair of factors or distances is ``(x, y)``.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .errors import TransformArgumentError

__all__ = ['Keypoints']

DeviceType = Union[str, torch.device]
IndexType = Union[int, slice, Sequence[int], np.ndarray, Tensor]

# A mirror image turns every left part into a right one, so the two
# reflections relabel keypoints through ``flip_indices``; 'diagonal' is both
# mirrors at once, i.e. a half turn, which keeps the labels.
_RELABELLING_FLIPS = ('horizontal', 'vertical')
_FLIP_DIRECTIONS = ('horizontal', 'vertical', 'diagonal')


def _pair(name: str, value: Sequence[float]) -> Tuple[float, float]:
    if len(value) != 2:
        raise TransformArgumentError(
            f'Keypoints: {name} must be an (x, y) pair, got {value!r}')
    return float(value[0]), float(value[1])


class Keypoints:
    """Keypoints of N instances, with one visibility value per keypoint.

    The in-place methods have the names and arguments of mmdet's
    ``BaseBoxes`` ones (``flip_``, ``translate_``, ``rescale_``, ``clip_``,
    ``project_``, ``is_inside``, ``cat``, indexing along instances), so a
    transform moves ``gt_keypoints`` with the calls it makes on
    ``gt_bboxes``.

    Args:
        keypoints (Tensor | np.ndarray): ``(N, K, 2)`` x, y in px; stored as
            float32 unless given as a floating-point tensor.
        keypoints_visible (Tensor | np.ndarray): ``(N, K)``; a value > 0
            marks a visible keypoint. Its dtype is kept.
        flip_indices (list[int], optional): Entry ``k`` is the index of the
            keypoint that keypoint ``k`` becomes in a mirror image (left eye
            <-> right eye; a point on the symmetry axis maps to itself).
            Needed by horizontal and vertical flips. Defaults to None.
        device (str | torch.device, optional): Where to put the tensors.
            Defaults to None (where they are).
        clone (bool): Copy the given data (True) or share its memory.
            Defaults to True.
    """

    def __init__(self,
                 keypoints: Union[Tensor, np.ndarray],
                 keypoints_visible: Union[Tensor, np.ndarray],
                 flip_indices: Optional[List[int]] = None,
                 device: Optional[DeviceType] = None,
                 clone: bool = True) -> None:
        xy = torch.as_tensor(keypoints, device=device)
        if not (isinstance(keypoints, Tensor) and xy.is_floating_point()):
            xy = xy.to(torch.float32)  # a float tensor keeps its dtype (to())
        visible = torch.as_tensor(keypoints_visible, device=device)
        if xy.dim() != 3 or xy.shape[-1] != 2:
            raise TransformArgumentError(
                'Keypoints: keypoints must have shape (N, K, 2) as (x, y) '
                f'px, got {tuple(xy.shape)}')
        if tuple(visible.shape) != tuple(xy.shape[:2]):
            raise TransformArgumentError(
                'Keypoints: keypoints_visible must have shape (N, K) = '
                f'{tuple(xy.shape[:2])}, got {tuple(visible.shape)}')
        if flip_indices is not None:
            flip_indices = [int(i) for i in flip_indices]
            if sorted(flip_indices) != list(range(xy.shape[1])):
                raise TransformArgumentError(
                    'Keypoints: flip_indices must be a permutation of the '
                    f'{xy.shape[1]} keypoint indices, got {flip_indices}')
        self.keypoints = xy.clone() if clone else xy
        self.keypoints_visible = visible.clone() if clone else visible
        self.flip_indices = flip_indices

    def __len__(self) -> int:
        return self.keypoints.shape[0]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_instances={len(self)}, '
                f'num_keypoints_per_instance={self.keypoints.shape[1]})')

    def __getitem__(self, index: IndexType) -> 'Keypoints':
        """The instances picked by ``index`` (an int keeps the N axis)."""
        if isinstance(index, tuple):
            raise TypeError('Keypoints can only be indexed along instances, '
                            f'got the tuple index {index!r}')
        if isinstance(index, np.ndarray):
            index = torch.from_numpy(np.ascontiguousarray(index))
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if isinstance(index, Tensor):
            index = index.to(self.keypoints.device)
        return type(self)(
            self.keypoints[index],
            self.keypoints_visible[index],
            flip_indices=self.flip_indices,
            clone=False)

    @property
    def num_keypoints(self) -> Tensor:
        """(N,) int64: how many keypoints of each instance are visible."""
        return (self.keypoints_visible > 0).sum(dim=1)

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.keypoints.device

    def clone(self) -> 'Keypoints':
        """A copy that shares no memory with this one."""
        return type(self)(self.keypoints, self.keypoints_visible,
                          self.flip_indices)

    def to(self, *args, **kwargs) -> 'Keypoints':
        """A copy with ``Tensor.to(*args, **kwargs)`` applied to both
        tensors (a dtype argument applies to the visibility too)."""
        return type(self)(
            self.keypoints.to(*args, **kwargs),
            self.keypoints_visible.to(*args, **kwargs),
            flip_indices=self.flip_indices,
            clone=False)

    @classmethod
    def cat(cls, kps_list: Sequence['Keypoints'], dim: int = 0) -> 'Keypoints':
        """Instances of every entry of ``kps_list``, in order.

        Args:
            kps_list (Sequence[Keypoints]): Structures with the same K and
                the same ``flip_indices``.
            dim (int): Must be 0 (instances). Defaults to 0.

        Returns:
            Keypoints: ``(sum N_i, K, 2)``.
        """
        if dim != 0:
            raise TransformArgumentError(
                f'Keypoints.cat joins instances (dim=0), got dim={dim}')
        if len(kps_list) == 0:
            raise TransformArgumentError(
                'Keypoints.cat needs at least one Keypoints, got none')
        if not all(isinstance(k, cls) for k in kps_list):
            raise TypeError('Keypoints.cat joins Keypoints only, got '
                            f'{[type(k).__name__ for k in kps_list]}')
        flip_indices = kps_list[0].flip_indices
        if any(k.flip_indices != flip_indices for k in kps_list):
            raise TransformArgumentError(
                'Keypoints.cat: all entries must share flip_indices (the '
                'same skeleton), got '
                f'{[k.flip_indices for k in kps_list]}')
        return cls(
            torch.cat([k.keypoints for k in kps_list]),
            torch.cat([k.keypoints_visible for k in kps_list]),
            flip_indices=flip_indices,
            clone=False)

    def flip_(self,
              img_shape: Tuple[int, int],
              direction: str = 'horizontal') -> None:
        """Mirror in an image of ``(height, width)``: ``x -> width - x``
        (horizontal), ``y -> height - y`` (vertical) or both (diagonal).

        The two mirrors also reorder the keypoints (and visibilities) by
        ``flip_indices``, so a left wrist ends up labelled as a right one.
        """
        if direction not in _FLIP_DIRECTIONS:
            raise TransformArgumentError(
                f'Keypoints.flip_: direction must be one of '
                f'{_FLIP_DIRECTIONS}, got {direction!r}')
        height, width = img_shape[:2]
        xy = self.keypoints.clone()
        if direction in ('horizontal', 'diagonal'):
            xy[..., 0] = width - xy[..., 0]
        if direction in ('vertical', 'diagonal'):
            xy[..., 1] = height - xy[..., 1]
        if direction in _RELABELLING_FLIPS:
            if self.flip_indices is None:
                raise TransformArgumentError(
                    f'Keypoints.flip_({direction!r}) needs flip_indices to '
                    'relabel the mirrored keypoints, but they are None')
            xy = xy[:, self.flip_indices]
            self.keypoints_visible = self.keypoints_visible[:,
                                                            self.flip_indices]
        self.keypoints = xy

    def translate_(self, distances: Sequence[float]) -> None:
        """Shift every keypoint by ``distances = (dx, dy)`` px."""
        dx, dy = _pair('distances', distances)
        self.keypoints = self.keypoints + self.keypoints.new_tensor([dx, dy])

    def rescale_(self, scale_factor: Sequence[float]) -> None:
        """Scale coordinates by ``scale_factor = (sx, sy)`` (about the
        image origin, as an image resize does)."""
        sx, sy = _pair('scale_factor', scale_factor)
        self.keypoints = self.keypoints * self.keypoints.new_tensor([sx, sy])

    def is_inside(self, img_shape: Tuple[int, int]) -> Tensor:
        """(N, K) bool: ``0 <= x <= width`` and ``0 <= y <= height``."""
        height, width = img_shape[:2]
        x, y = self.keypoints[..., 0], self.keypoints[..., 1]
        return (x >= 0) & (x <= width) & (y >= 0) & (y <= height)

    def clip_(self, img_shape: Tuple[int, int]) -> None:
        """Mark the keypoints outside ``(height, width)`` as invisible.

        The coordinates stay as they are: pulling an off-image joint onto
        the border would make a wrong target, so it is hidden instead.
        """
        outside = ~self.is_inside(img_shape)
        visible = self.keypoints_visible.clone()
        visible[outside] = 0
        self.keypoints_visible = visible

    def project_(self, homography_matrix: Union[Tensor, np.ndarray]) -> None:
        """Map every keypoint through a 3x3 homography ``H``:
        ``(x', y', w') = H @ (x, y, 1)``, then ``(x' / w', y' / w')``."""
        matrix = torch.as_tensor(
            homography_matrix,
            dtype=self.keypoints.dtype,
            device=self.keypoints.device)
        if tuple(matrix.shape) != (3, 3):
            raise TransformArgumentError(
                'Keypoints.project_: homography_matrix must be 3x3, got '
                f'{tuple(matrix.shape)}')
        ones = self.keypoints.new_ones(*self.keypoints.shape[:2], 1)
        xyw = torch.cat([self.keypoints, ones], dim=-1) @ matrix.T  # (N,K,3)
        self.keypoints = xyw[..., :2] / xyw[..., 2:]
