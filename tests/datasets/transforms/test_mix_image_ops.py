"""Tests of the pure helpers shared by the mixing transforms, with values
worked out by hand in the comments."""
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from yolokit.datasets.transforms.keypoint_structure import Keypoints
from yolokit.datasets.transforms.mix_image_ops import (
    TilePlacement, blank_canvas, clip_instances, concat_instances, fit_into,
    instances_of, keep_inside, paste, place_instances, present_instance_keys,
    stitch_instances, write_mixed)


def _boxes(rows):
    return HorizontalBoxes(np.array(rows, dtype=np.float32).reshape(-1, 4))


def _kps(xy, visible=None):
    xy = np.array(xy, dtype=np.float32)
    if visible is None:
        visible = np.ones(xy.shape[:2], dtype=np.float32)
    return Keypoints(xy, visible, flip_indices=list(range(xy.shape[1])))


def test_fit_into_shrinks_and_enlarges_keeping_ratio():
    # 30 x 40 (h x w) into (w, h) = (20, 10): s = min(10/30, 20/40) = 1/3,
    # size int(40/3) = 13 wide, int(30/3) = 10 high
    out, scale = fit_into(np.zeros((30, 40, 3), np.uint8), (20, 10))
    assert scale == pytest.approx(1 / 3) and out.shape == (10, 13, 3)
    # 10 x 20 into (40, 40): s = min(40/10, 40/20) = 2 -> 20 x 40
    out, scale = fit_into(np.zeros((10, 20), np.uint8), (40, 40))
    assert scale == 2 and out.shape == (20, 40)


def test_blank_canvas_takes_channels_and_dtype():
    canvas = blank_canvas((2, 3), np.zeros((5, 5, 4), np.float32), 7)
    assert canvas.shape == (2, 3, 4) and canvas.dtype == np.float32
    assert (canvas == 7).all()
    assert blank_canvas((2, 3), np.zeros((5, 5), np.uint8), 1).shape == (2, 3)


def test_paste_cuts_the_tile_at_the_canvas_edges():
    canvas = np.zeros((4, 5), dtype=np.int64)
    tile = np.arange(1, 10).reshape(3, 3)  # rows 1 2 3 / 4 5 6 / 7 8 9
    # corner at (-1, 2): canvas rows 2..3 and columns 0..1 show tile rows
    # 0..1 and columns 1..2
    paste(canvas, tile, (-1, 2))
    np.testing.assert_array_equal(
        canvas,
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [2, 3, 0, 0, 0], [5, 6, 0, 0, 0]])
    paste(canvas, tile, (9, 9))  # no overlap: nothing written
    assert canvas.sum() == 16


def test_present_keys_and_missing_key_error():
    results = {'gt_bboxes': _boxes([]), 'gt_masks': None, 'img': None}
    assert present_instance_keys(results) == ('gt_bboxes', 'gt_masks')
    with pytest.raises(KeyError, match=r"\['gt_masks'\].*image 2"):
        instances_of({'gt_bboxes': 1}, ('gt_bboxes', 'gt_masks'), 'Mosaic', 2)


def test_place_instances_scales_then_shifts_without_touching_input():
    instances = {
        'gt_bboxes': _boxes([[1, 2, 3, 4]]),
        'gt_bboxes_labels': np.array([7]),
        'gt_keypoints': _kps([[[1, 1]]]),
        'gt_masks': PolygonMasks([[np.array([0., 0, 4, 0, 4, 4])]], 10, 10),
    }
    placed = place_instances(instances, TilePlacement(2.0, (10, -3)), (6, 30))
    # box * 2 = [2, 4, 6, 8]; + (10, -3) = [12, 1, 16, 5]
    np.testing.assert_allclose(placed['gt_bboxes'].numpy(), [[12, 1, 16, 5]])
    # keypoint (1, 1) * 2 + (10, -3) = (12, -1); not clipped here
    np.testing.assert_allclose(placed['gt_keypoints'].keypoints, [[[12, -1]]])
    # polygon * 2 = (0,0) (8,0) (8,8); + (10, -3) = (10,-3) (18,-3) (18,5);
    # the translation clips y to the 6-high mask canvas: -3 -> 0
    np.testing.assert_allclose(placed['gt_masks'].masks[0][0],
                               [10, 0, 18, 0, 18, 5])
    assert (placed['gt_masks'].height, placed['gt_masks'].width) == (6, 30)
    assert placed['gt_bboxes_labels'] is instances['gt_bboxes_labels']
    # the inputs are unchanged
    np.testing.assert_allclose(instances['gt_bboxes'].numpy(), [[1, 2, 3, 4]])
    np.testing.assert_allclose(instances['gt_keypoints'].keypoints, [[[1, 1]]])


def test_place_instances_bitmap_masks():
    bitmap = np.zeros((1, 4, 4), np.uint8)
    bitmap[0, 1:3, 0:2] = 1  # rows 1..2, columns 0..1
    placed = place_instances({'gt_masks': BitmapMasks(bitmap, 4, 4)},
                             TilePlacement(1.0, (3, -1)), (5, 6))
    # shifted 3 right and 1 up: rows 0..1, columns 3..4 of a 5 x 6 mask
    expected = np.zeros((5, 6), np.uint8)
    expected[0:2, 3:5] = 1
    np.testing.assert_array_equal(placed['gt_masks'].masks[0], expected)


def test_concat_instances_keeps_order_per_key():
    a = {
        'gt_bboxes': _boxes([[0, 0, 1, 1]]),
        'gt_bboxes_labels': np.array([1]),
        'gt_masks': PolygonMasks([[np.zeros(6)]], 5, 5),
        'gt_keypoints': _kps([[[1, 1]]])
    }
    b = {
        'gt_bboxes': _boxes([[2, 2, 3, 3], [4, 4, 5, 5]]),
        'gt_bboxes_labels': np.array([2, 3]),
        'gt_masks': PolygonMasks([[np.ones(6)], [np.ones(6) * 2]], 5, 5),
        'gt_keypoints': _kps([[[2, 2]], [[3, 3]]])
    }
    joined = concat_instances([a, b])
    assert joined['gt_bboxes_labels'].tolist() == [1, 2, 3]
    assert joined['gt_bboxes'].numpy()[:, 0].tolist() == [0, 2, 4]
    assert [m[0][0] for m in joined['gt_masks'].masks] == [0, 1, 2]
    assert joined['gt_keypoints'].keypoints[:, 0, 0].tolist() == [1, 2, 3]
    assert concat_instances([{}, {}]) == {}


def test_clip_instances_clips_boxes_and_hides_keypoints():
    instances = {
        'gt_bboxes': _boxes([[-5, 2, 50, 8]]),
        'gt_keypoints': _kps([[[-1, 3], [10, 3]]])
    }
    out = clip_instances(instances, (6, 30))
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), [[0, 2, 30, 6]])
    # x = -1 is outside the 30-wide output: hidden, coordinates kept
    assert out['gt_keypoints'].keypoints_visible.tolist() == [[0, 1]]
    np.testing.assert_allclose(out['gt_keypoints'].keypoints,
                               [[[-1, 3], [10, 3]]])


@pytest.mark.parametrize('rows,kept', [
    ([[1, 1, 3, 3], [40, 1, 45, 3]], [0]),
    ([[40, 1, 45, 3]], []),
    ([[1, 1, 3, 3]], [0]),
])
def test_keep_inside_indexes_every_entry(rows, kept):
    labels = np.arange(len(rows))
    out = keep_inside({
        'gt_bboxes': _boxes(rows),
        'gt_bboxes_labels': labels
    }, (6, 30))
    # a single box must select by mask, not index row 0 or 1
    assert out['gt_bboxes_labels'].tolist() == kept
    assert len(out['gt_bboxes']) == len(kept)


def _patch(box, label):
    return {
        'img': None,
        'gt_bboxes': _boxes([box]),
        'gt_bboxes_labels': np.array([label])
    }


def test_stitch_instances_moves_joins_and_clips():
    patches = [_patch([0, 0, 4, 4], 0), _patch([1, 1, 3, 3], 1)]
    placements = [TilePlacement(1.0, (-2, 0)), TilePlacement(0.5, (9, 5))]
    out = stitch_instances(patches, placements, (6, 8), True, 'Mosaic')
    # tile 0: [0,0,4,4] - (2, 0) = [-2, 0, 2, 4] -> clipped [0, 0, 2, 4]
    # tile 1: [1,1,3,3] * 0.5 + (9, 5) = [9.5, 5.5, 10.5, 6.5] -> x clipped
    # to 8, y2 to 6
    np.testing.assert_allclose(out['gt_bboxes'].numpy(),
                               [[0, 0, 2, 4], [8, 5.5, 8, 6]])
    assert out['gt_bboxes_labels'].tolist() == [0, 1]
    # without clipping: tile 0's box overlaps the output and stays as it
    # is, tile 1's lies wholly right of it (x1 9.5 >= 8) and is dropped
    out = stitch_instances(patches, placements, (6, 8), False, 'Mosaic')
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), [[-2, 0, 2, 4]])
    assert out['gt_bboxes_labels'].tolist() == [0]


def test_stitch_instances_needs_boxes_and_equal_keys():
    assert stitch_instances([{
        'img': None
    }], [TilePlacement(1.0, (0, 0))], (4, 4), True, 'Mosaic') == {}
    patches = [_patch([0, 0, 1, 1], 0), {'gt_bboxes': _boxes([[0, 0, 1, 1]])}]
    with pytest.raises(KeyError, match='gt_bboxes_labels.*image 1'):
        stitch_instances(patches, [TilePlacement(1.0, (0, 0))] * 2, (4, 4),
                         True, 'Mosaic')


def test_write_mixed_sets_image_shape_and_instances():
    results = {'img': np.zeros((2, 2, 3), np.uint8), 'gt_bboxes_labels': [0]}
    out = write_mixed(results, np.ones((4, 6, 3), np.uint8),
                      {'gt_bboxes_labels': np.array([0, 1])})
    assert out is results and out['img_shape'] == (4, 6)
    assert out['img'].sum() == 4 * 6 * 3
    assert out['gt_bboxes_labels'].tolist() == [0, 1]
