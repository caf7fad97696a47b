"""Per-level dense head outputs as flat prior-ordered tensors.

Dims: B images, A priors per position, P priors over all levels in the
order (level, y, x, prior) that mmdet's prior generators use, k values per
prior.
"""
from collections import OrderedDict
from typing import NamedTuple, Sequence, Tuple

import torch
from torch import Tensor


def flatten_levels(maps: Sequence[Tensor], k: int) -> Tensor:
    """Per level ``(B, A * k, H, W)`` -> ``(B, P, k)`` in prior order.

    The channel axis of a level holds the ``k`` values of each of its ``A``
    priors one after the other, so moving it last and splitting it into
    ``(A, k)`` leaves the priors in (y, x, prior) order.
    """
    return torch.cat(
        [m.permute(0, 2, 3, 1).reshape(m.shape[0], -1, k) for m in maps],
        dim=1)


class FlatPriors(NamedTuple):
    """The priors of all levels, concatenated in prior order."""
    priors: Tensor  # (P, 2) points, (P, 4) anchors or (x, y, s_w, s_h)
    strides: Tensor  # (P,) stride of the level each prior belongs to


class GridPriorCache:
    """Flat grid priors, memoised on (sizes, dtype, device, with_stride).

    Training and validation alternate between a few input sizes, so the
    last ``max_entries`` layouts are kept. The cache is a plain object, so
    it never enters a ``state_dict``.

    Args:
        generator: An mmdet prior generator (``grid_priors``).
        strides (Sequence[int]): Stride of each level.
        num_base_priors (int): Priors per position (``A``).
        max_entries (int): Layouts kept. Defaults to 4.
    """

    def __init__(self,
                 generator,
                 strides: Sequence[int],
                 num_base_priors: int,
                 max_entries: int = 4) -> None:
        self._generator = generator
        self._strides = tuple(strides)
        self._num_base_priors = num_base_priors
        self._max_entries = max_entries
        self._entries: 'OrderedDict[tuple, FlatPriors]' = OrderedDict()

    def __call__(self,
                 featmap_sizes: Sequence[Tuple[int, int]],
                 dtype: torch.dtype,
                 device: torch.device,
                 with_stride: bool = False) -> FlatPriors:
        """The priors of maps of ``featmap_sizes`` ``(H, W)`` per level.

        ``with_stride`` asks point generators for ``(x, y, s_w, s_h)`` rows,
        the layout the batched assigners take.
        """
        sizes = tuple(tuple(int(v) for v in s) for s in featmap_sizes)
        key = (sizes, dtype, device, with_stride)
        found = self._entries.get(key)
        if found is None:
            kwargs = dict(with_stride=True) if with_stride else {}
            priors = torch.cat(
                self._generator.grid_priors(
                    sizes, dtype=dtype, device=device, **kwargs))
            strides = torch.cat([
                priors.new_full((h * w * self._num_base_priors, ), stride)
                for (h, w), stride in zip(sizes, self._strides)
            ])
            found = FlatPriors(priors, strides)
            self._entries[key] = found
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return found
