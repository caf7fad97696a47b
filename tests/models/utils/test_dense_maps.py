"""flatten_levels and GridPriorCache: prior order by hand, memoisation."""
import torch
from mmdet.models.task_modules.prior_generators import (MlvlPointGenerator,
                                                        YOLOAnchorGenerator)

from yolokit.models.utils import GridPriorCache, flatten_levels


def test_flatten_levels_order_by_hand():
    # one image, A=2 priors with k=3 values, a 1x2 map: channel c of the
    # map is value c % 3 of prior c // 3; prior order is (y, x, prior)
    level = torch.arange(12.).view(1, 6, 1, 2)  # value = 2 * channel + x
    flat = flatten_levels([level], 3)
    assert flat.shape == (1, 4, 3)
    # (x=0, prior 0): channels 0, 1, 2 -> 0, 2, 4; (x=0, prior 1): 6, 8, 10
    assert flat[0].tolist() == [[0., 2., 4.], [6., 8., 10.], [1., 3., 5.],
                                [7., 9., 11.]]
    two = flatten_levels([level, level[..., :1] + 100], 3)
    assert two.shape == (1, 6, 3)
    assert two[0, 4:].tolist() == [[100., 102., 104.], [106., 108., 110.]]


def test_point_priors_and_strides():
    cache = GridPriorCache(MlvlPointGenerator([8, 16], offset=0.5), [8, 16],
                           num_base_priors=1)
    flat = cache([(2, 2), (1, 1)], torch.float32, torch.device('cpu'))
    # cell centres of the 2x2 stride-8 grid, then the single stride-16 cell
    assert flat.priors.tolist() == [[4., 4.], [12., 4.], [4., 12.],
                                    [12., 12.], [8., 8.]]
    assert flat.strides.tolist() == [8., 8., 8., 8., 16.]
    with_stride = cache([(2, 2), (1, 1)],
                        torch.float32,
                        torch.device('cpu'),
                        with_stride=True)
    assert with_stride.priors[-1].tolist() == [8., 8., 16., 16.]


def test_anchor_strides_repeat_per_prior():
    gen = YOLOAnchorGenerator(
        strides=[8], base_sizes=[[(10, 13), (16, 30), (33, 23)]])
    flat = GridPriorCache(gen, [8], 3)([(1, 2)], torch.float32,
                                       torch.device('cpu'))
    assert flat.priors.shape == (6, 4) and flat.strides.tolist() == [8.] * 6
    # anchors are centred in their cell: cell (0, 0) centre (4, 4)
    assert flat.priors[0].tolist() == [-1., -2.5, 9., 10.5]


def test_cache_reuses_and_evicts():
    calls = []

    class Counting(MlvlPointGenerator):

        def grid_priors(self, *args, **kwargs):
            calls.append(args[0])
            return super().grid_priors(*args, **kwargs)

    cache = GridPriorCache(Counting([8]), [8], 1, max_entries=2)
    cpu = torch.device('cpu')
    first = cache([(2, 2)], torch.float32, cpu)
    assert cache([(2, 2)], torch.float32, cpu) is first
    cache([(3, 3)], torch.float32, cpu)
    cache([(4, 4)], torch.float32, cpu)  # evicts (2, 2), the oldest
    cache([(2, 2)], torch.float32, cpu)
    assert len(calls) == 4
    # a different dtype is a different layout
    assert cache([(2, 2)], torch.float64, cpu).priors.dtype == torch.float64
