"""Tests of the ``Keypoints`` structure (spec 05 §5.21), by hand.

The running example: 2 instances of K = 3 keypoints (nose, left eye, right
eye), so ``flip_indices = [0, 2, 1]``: a mirror swaps the eyes.
"""
import copy

import numpy as np
import pytest
import torch

from yolokit.datasets.transforms.errors import TransformArgumentError
from yolokit.datasets.transforms.keypoint_structure import Keypoints

XY = [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]]
VISIBLE = [[1, 0, 2], [0, 0, 0]]
FLIP = [0, 2, 1]


def _kps(flip_indices=FLIP):
    return Keypoints(np.array(XY, np.float32), np.array(VISIBLE), flip_indices)


def test_construction_dtypes_and_copy():
    source = np.array(XY, np.float64)
    kps = Keypoints(source, np.array(VISIBLE, np.int32), FLIP)
    assert kps.keypoints.dtype == torch.float32
    assert kps.keypoints_visible.dtype == torch.int32  # kept
    assert len(kps) == 2 and kps.flip_indices == FLIP
    source[0, 0, 0] = 99  # clone=True: no shared memory
    assert kps.keypoints[0, 0, 0] == 1
    shared = torch.tensor(XY, dtype=torch.float64)
    kept = Keypoints(shared, torch.tensor(VISIBLE), FLIP, clone=False)
    assert kept.keypoints is shared  # a float tensor keeps its dtype
    empty = Keypoints(np.empty((0, 3, 2)), np.empty((0, 3)), FLIP)
    assert len(empty) == 0 and empty.num_keypoints.shape == (0, )


@pytest.mark.parametrize('xy,visible,flip,match', [
    (np.zeros((2, 3)), np.zeros((2, 3)), None, 'keypoints must have shape'),
    (np.zeros((2, 3, 3)), np.zeros((2, 3)), None, r'\(N, K, 2\)'),
    (np.zeros((2, 3, 2)), np.zeros((2, 4)), None, 'keypoints_visible'),
    (np.zeros((2, 3, 2)), np.zeros((2, 3)), [0, 1, 1], 'flip_indices'),
])
def test_construction_checks(xy, visible, flip, match):
    with pytest.raises(TransformArgumentError, match=match):
        Keypoints(xy, visible, flip)


def test_num_keypoints_counts_visible_ones():
    # visibility > 0: [1, 0, 2] -> 2, [0, 0, 0] -> 0
    assert _kps().num_keypoints.tolist() == [2, 0]


def test_horizontal_flip_mirrors_x_and_swaps_eyes():
    kps = _kps()
    kps.flip_((20, 30), direction='horizontal')
    # x -> 30 - x: (29, 2) (27, 4) (25, 6); then the eyes swap places
    assert kps.keypoints[0].tolist() == [[29, 2], [25, 6], [27, 4]]
    assert kps.keypoints[1].tolist() == [[23, 8], [19, 12], [21, 10]]
    assert kps.keypoints_visible[0].tolist() == [1, 2, 0]


def test_vertical_flip_mirrors_y_and_swaps_eyes():
    kps = _kps()
    kps.flip_((20, 30), direction='vertical')
    # y -> 20 - y: (1, 18) (3, 16) (5, 14); a mirror, so the eyes swap
    assert kps.keypoints[0].tolist() == [[1, 18], [5, 14], [3, 16]]
    assert kps.keypoints_visible[0].tolist() == [1, 2, 0]


def test_diagonal_flip_is_a_half_turn_without_relabelling():
    kps = _kps(flip_indices=None)  # not needed for a half turn
    kps.flip_((20, 30), direction='diagonal')
    # (30 - x, 20 - y), order kept
    assert kps.keypoints[0].tolist() == [[29, 18], [27, 16], [25, 14]]
    assert kps.keypoints_visible[0].tolist() == [1, 0, 2]


def test_flip_twice_is_the_identity():
    kps = _kps()
    kps.flip_((20, 30))
    kps.flip_((20, 30))
    assert kps.keypoints.tolist() == XY
    assert kps.keypoints_visible.tolist() == VISIBLE


def test_flip_errors():
    with pytest.raises(TransformArgumentError, match='flip_indices'):
        _kps(flip_indices=None).flip_((20, 30), 'horizontal')
    with pytest.raises(TransformArgumentError, match='direction'):
        _kps().flip_((20, 30), 'sideways')


def test_translate_and_rescale():
    kps = _kps()
    kps.translate_([2, -1])
    assert kps.keypoints[0].tolist() == [[3, 1], [5, 3], [7, 5]]
    kps.rescale_((2, 0.5))
    # x * 2, y * 0.5
    assert kps.keypoints[0].tolist() == [[6, 0.5], [10, 1.5], [14, 2.5]]
    with pytest.raises(TransformArgumentError, match='distances'):
        kps.translate_([1, 2, 3])
    with pytest.raises(TransformArgumentError, match='scale_factor'):
        kps.rescale_([2])


def test_is_inside_has_inclusive_borders():
    kps = Keypoints([[[0, 0], [5, 4], [5.1, 1], [-0.1, 1], [2, 4.5]]],
                    [[1] * 5])
    # image (h, w) = (4, 5): 0 <= x <= 5 and 0 <= y <= 4
    assert kps.is_inside(
        (4, 5)).tolist() == [[True, True, False, False, False]]


def test_clip_hides_outside_keypoints_and_keeps_coordinates():
    visible = torch.ones(1, 4)
    kps = Keypoints([[[0, 0], [5, 4], [5.1, 1], [-0.1, 1]]],
                    visible,
                    clone=False)
    kps.clip_((4, 5))
    assert kps.keypoints_visible.tolist() == [[1, 1, 0, 0]]
    assert kps.keypoints[0, 2].tolist() == pytest.approx([5.1, 1])
    assert visible.tolist() == [[1, 1, 1, 1]]  # the caller's tensor


def test_project_by_hand():
    kps = Keypoints([[[1, 2], [4, 0]]], [[1, 1]])
    # affine: x' = 2x + 1, y' = y - 1 -> (3, 1), (9, -1)
    kps.project_(np.array([[2, 0, 1], [0, 1, -1], [0, 0, 1]]))
    assert kps.keypoints.tolist() == [[[3, 1], [9, -1]]]
    # w' = 2 halves both coordinates
    kps.project_(torch.diag(torch.tensor([1., 1., 2.])))
    assert kps.keypoints.tolist() == [[[1.5, 0.5], [4.5, -0.5]]]
    with pytest.raises(TransformArgumentError, match='3x3'):
        kps.project_(np.eye(2))


def test_cat_joins_instances():
    joined = Keypoints.cat([_kps(), _kps()[1]])
    assert len(joined) == 3 and joined.flip_indices == FLIP
    assert joined.keypoints[2].tolist() == XY[1]
    assert joined.num_keypoints.tolist() == [2, 0, 0]
    with pytest.raises(TransformArgumentError, match='flip_indices'):
        Keypoints.cat([_kps(), _kps(flip_indices=[0, 1, 2])])
    with pytest.raises(TransformArgumentError, match='at least one'):
        Keypoints.cat([])
    with pytest.raises(TransformArgumentError, match='dim=0'):
        Keypoints.cat([_kps()], dim=1)


@pytest.mark.parametrize('index,rows', [
    (1, [1]),
    (-1, [1]),
    (np.array([True, False]), [0]),
    (np.array([1, 0]), [1, 0]),
    (np.array([0, 1])[::-1], [1, 0]),
    (torch.tensor([False, True]), [1]),
    (slice(0, 1), [0]),
    ([1, 1], [1, 1]),
])
def test_indexing_picks_instances(index, rows):
    picked = _kps()[index]
    assert picked.keypoints.tolist() == [XY[r] for r in rows]
    assert picked.keypoints_visible.tolist() == [VISIBLE[r] for r in rows]
    assert picked.flip_indices == FLIP


def test_indexing_along_keypoints_is_refused():
    with pytest.raises(TypeError, match='instances'):
        _kps()[:, 0]


def test_clone_deepcopy_to_and_device_do_not_share_memory():
    kps = _kps()
    for other in (kps.clone(), copy.deepcopy(kps)):
        other.keypoints[0, 0, 0] = -5
        other.keypoints_visible[0, 0] = 0
        assert kps.keypoints[0, 0, 0] == 1
        assert kps.keypoints_visible[0, 0] == 1
    doubled = kps.to(torch.float64)
    assert doubled.keypoints.dtype == torch.float64
    assert doubled.keypoints_visible.dtype == torch.float64
    assert kps.device == torch.device('cpu') == doubled.device
    assert 'num_instances=2' in repr(kps)
