"""Tests of LoadAnnotations (ignored instances and invalid masks dropped)."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import PolygonMasks

from yolokit.datasets.transforms.errors import TransformArgumentError
from yolokit.datasets.transforms.load_annotations import LoadAnnotations
from yolokit.registry import TRANSFORMS

# pycocotools (used to rasterise polygons) warns under numpy 2; harmless.
pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

SQUARE = [0, 0, 10, 0, 10, 10, 0, 10]


def _results():
    return dict(
        ori_shape=(60, 80),
        instances=[
            dict(
                bbox=[0, 0, 10, 10],
                bbox_label=1,
                ignore_flag=0,
                mask=[SQUARE]),
            dict(
                bbox=[1, 1, 5, 5], bbox_label=2, ignore_flag=1, mask=[SQUARE]),
            # odd number of coordinates -> invalid polygon
            dict(
                bbox=[2, 2, 9, 9],
                bbox_label=3,
                ignore_flag=0,
                mask=[[0, 0, 10, 0, 10]]),
            # fewer than 3 points -> invalid polygon
            dict(
                bbox=[3, 3, 9, 9],
                bbox_label=4,
                ignore_flag=0,
                mask=[[0, 0, 10, 0]]),
            dict(
                bbox=[20, 30, 40, 50],
                bbox_label=5,
                ignore_flag=0,
                mask=[[20, 30, 40, 30, 40, 50, 20, 50]]),
            # no mask at all
            dict(bbox=[6, 6, 7, 7], bbox_label=6, ignore_flag=0),
        ])


def test_ignored_instances_are_not_loaded():
    out = LoadAnnotations(with_bbox=True).transform(_results())
    assert isinstance(out['gt_bboxes'], HorizontalBoxes)
    assert out['gt_bboxes'].tensor.dtype == torch.float32
    assert out['gt_bboxes'].tensor.tolist() == [[0, 0, 10, 10], [2, 2, 9, 9],
                                                [3, 3, 9, 9], [20, 30, 40, 50],
                                                [6, 6, 7, 7]]
    assert out['gt_bboxes_labels'].tolist() == [1, 3, 4, 5, 6]
    assert out['gt_bboxes_labels'].dtype == np.int64
    assert out['gt_ignore_flags'].dtype == bool
    assert not out['gt_ignore_flags'].any()
    assert 'gt_masks' not in out


def test_box_type_none_gives_numpy():
    out = LoadAnnotations(with_bbox=True, box_type=None).transform(_results())
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32
    assert out['gt_bboxes'].shape == (5, 4)


@pytest.mark.parametrize('results', [dict(), dict(instances=[])])
def test_empty_annotations(results):
    out = LoadAnnotations(with_bbox=True, box_type=None).transform(results)
    assert out['gt_bboxes'].shape == (0, 4)
    assert out['gt_bboxes_labels'].shape == (0, )
    assert out['gt_ignore_flags'].shape == (0, )


def test_masks_drop_instances_without_valid_polygons():
    out = LoadAnnotations(with_bbox=True, with_mask=True).transform(_results())
    # Kept: label 1 (valid square) and 5; dropped: 2 (ignored), 3 (odd),
    # 4 (too short), 6 (no mask).
    assert out['gt_bboxes_labels'].tolist() == [1, 5]
    assert out['gt_bboxes'].tensor.tolist() == [[0, 0, 10, 10],
                                                [20, 30, 40, 50]]
    assert out['gt_ignore_flags'].tolist() == [False, False]
    masks = out['gt_masks']
    assert isinstance(masks, PolygonMasks)
    assert (masks.height, masks.width) == (60, 80)
    assert len(masks) == 2
    np.testing.assert_array_equal(masks.masks[0][0], SQUARE)


def test_mask2bbox_uses_polygon_extents():
    results = _results()
    results['instances'][0]['bbox'] = [0, 0, 99, 99]  # disagrees with mask
    out = LoadAnnotations(
        with_bbox=True, with_mask=True, mask2bbox=True).transform(results)
    assert out['gt_bboxes'].tensor.tolist() == [[0, 0, 10, 10],
                                                [20, 30, 40, 50]]
    assert out['gt_bboxes_labels'].tolist() == [1, 5]


def test_invalid_arguments_and_mask_formats():
    with pytest.raises(AssertionError, match='poly2mask'):
        LoadAnnotations(poly2mask=True)
    with pytest.raises(AssertionError, match='with_mask'):
        LoadAnnotations(mask2bbox=True)
    results = dict(
        ori_shape=(10, 10),
        instances=[
            dict(
                bbox=[0, 0, 1, 1],
                bbox_label=0,
                ignore_flag=0,
                mask=dict(counts='abc', size=[10, 10]))
        ])
    with pytest.raises(NotImplementedError, match='polygon'):
        LoadAnnotations(with_mask=True).transform(results)


def test_min_index():
    a = np.array([[0, 0], [5, 5], [9, 0]])
    b = np.array([[20, 20], [10, 1], [6, 7]])
    # distances^2: (5,5)-(6,7) = 1 + 4 = 5; (9,0)-(10,1) = 2 -> the minimum.
    assert LoadAnnotations.min_index(a, b) == (2, 1)


def _squares(*x0s, order='ccw'):
    polys = []
    for x0 in x0s:
        pts = [(x0, 0), (x0 + 10, 0), (x0 + 10, 10), (x0, 10)]
        if order == 'cw':
            pts = pts[::-1]
        polys.append(np.array(pts, dtype=np.float64).reshape(-1))
    return polys


def _raster(polys, h=12, w=80):
    return PolygonMasks([polys], h, w).to_ndarray()[0].astype(bool)


@pytest.mark.parametrize(
    'polys',
    [
        _squares(0, 30),
        _squares(0, 20, 40),
        _squares(40, 20, 0),
        # middle square listed so its link to the previous square comes after
        # its link to the next one (the reversed case)
        [
            _squares(0)[0],
            np.array([30, 0, 30, 10, 20, 10, 20, 0], dtype=np.float64),
            _squares(40)[0]
        ],
        _squares(0, 20, 40, 60, order='cw'),
    ])
def test_merge_multi_segment_covers_every_polygon(polys):
    merged = LoadAnnotations().merge_multi_segment(polys)
    assert len(merged) == 1 and merged[0].ndim == 1
    # Every vertex of every polygon is on the merged outline.
    points = set(map(tuple, merged[0].reshape(-1, 2).tolist()))
    for poly in polys:
        assert set(map(tuple, poly.reshape(-1, 2).tolist())) <= points
    # Rasterised, the merged polygon covers each polygon; the extra pixels
    # are only those of the zero-width bridges (on the row of the links).
    separate = _raster(polys)
    joined = _raster(merged)
    assert (joined | ~separate).all()
    extra_rows = np.nonzero((joined & ~separate).any(1))[0]
    assert len(extra_rows) <= 1


def test_load_merges_polygons_of_an_instance():
    results = dict(
        ori_shape=(12, 80),
        instances=[
            dict(
                bbox=[0, 0, 40, 10],
                bbox_label=0,
                ignore_flag=0,
                mask=[p.tolist() for p in _squares(0, 30)])
        ])
    out = LoadAnnotations(with_mask=True).transform(results)
    assert len(out['gt_masks'].masks[0]) == 1
    out = LoadAnnotations(
        with_mask=True, merge_polygons=False).transform(
            dict(ori_shape=(12, 80), instances=results['instances']))
    assert len(out['gt_masks'].masks[0]) == 2


def test_registered():
    assert TRANSFORMS.get('LoadAnnotations') is LoadAnnotations


# Keypoints (spec 05 §5.3 "with_keypoints path"): K = 3 keypoints (nose,
# left eye, right eye), so a mirror swaps entries 1 and 2.
FLIP_INDICES = [0, 2, 1]


def _coco_keypoint_results():
    return dict(
        img_shape=(60, 120),
        flip_indices=FLIP_INDICES,
        instances=[
            # COCO triples: v = 2 visible, 1 labelled but hidden, 0 none
            dict(
                bbox=[0, 0, 10, 20],
                bbox_label=1,
                ignore_flag=0,
                keypoints=[1, 2, 2, 3, 4, 1, 0, 0, 0]),
            dict(
                bbox=[5, 5, 6, 6],
                bbox_label=3,
                ignore_flag=1,
                keypoints=[0] * 9),
            # (x, y) pairs with a separate visibility list
            dict(
                bbox=[10, 10, 110, 50],
                bbox_label=2,
                ignore_flag=0,
                keypoints=[[5, 6], [7, 8], [9, 10]],
                keypoints_visible=[0, 1, 2]),
        ])


def test_keypoints_from_a_coco_style_instance_list():
    out = LoadAnnotations(with_keypoints=True).transform(
        _coco_keypoint_results())
    kps = out['gt_keypoints']
    # the ignored instance is skipped like its box
    assert kps.keypoints.tolist() == [[[1, 2], [3, 4], [0, 0]],
                                      [[5, 6], [7, 8], [9, 10]]]
    # v = 1 and v = 2 both count as visible (min(v, 1))
    assert kps.keypoints_visible.tolist() == [[1, 1, 0], [0, 1, 1]]
    assert kps.flip_indices == FLIP_INDICES
    assert out['gt_bboxes'].tensor.tolist() == [[0, 0, 10, 20],
                                                [10, 10, 110, 50]]
    assert out['gt_bboxes_labels'].tolist() == [1, 2]
    assert out['gt_bboxes_labels'].dtype == np.int64
    assert out['gt_ignore_flags'].tolist() == [False, False]
    out = LoadAnnotations(
        with_keypoints=True, box_type=None).transform(_coco_keypoint_results())
    assert isinstance(out['gt_bboxes'], np.ndarray)


def test_keypoints_flip_and_pack_through_the_pipeline():
    from yolokit.datasets.transforms import PackDetInputs, RandomFlip
    results = _coco_keypoint_results()
    results['img'] = np.zeros((60, 120, 3), np.uint8)
    out = LoadAnnotations(with_keypoints=True).transform(results)
    out = RandomFlip(prob=1.0, direction='horizontal').transform(out)
    # instance 0: x -> 120 - x gives (119, 2) (117, 4) (120, 0); the eyes
    # (entries 1, 2) then swap, visibility [1, 1, 0] -> [1, 0, 1]
    assert out['gt_keypoints'].keypoints[0].tolist() == [[119, 2], [120, 0],
                                                         [117, 4]]
    assert out['gt_keypoints'].keypoints_visible[0].tolist() == [1, 0, 1]
    packed = PackDetInputs(meta_keys=()).transform(out)
    gt = packed['data_samples'].gt_instances
    assert gt.keypoints.shape == (2, 3, 2)
    assert gt.keypoints[1].tolist() == [[115, 6], [111, 10], [113, 8]]
    assert gt.keypoints_visible.tolist() == [[1, 0, 1], [0, 1, 1]]


def test_keypoints_of_an_empty_instance_list():
    out = LoadAnnotations(with_keypoints=True).transform(
        dict(img_shape=(6, 8), flip_indices=FLIP_INDICES, instances=[]))
    assert tuple(out['gt_keypoints'].keypoints.shape) == (0, 3, 2)
    assert out['gt_bboxes'].tensor.shape == (0, 4)
    assert out['gt_bboxes_labels'].shape == (0, )


@pytest.mark.parametrize('change,error,match', [
    (lambda r: r.pop('flip_indices'), KeyError, 'flip_indices'),
    (lambda r: r['instances'][0].pop('keypoints'), KeyError,
     r'instances\[0\] has no "keypoints"'),
    (lambda r: r['instances'][0].update(keypoints=[1, 2] * 3),
     TransformArgumentError, r'instances\[0\] has 6 keypoint values, '
     'expected 9'),
    (lambda r: r['instances'][2].update(keypoints_visible=[1, 1]),
     TransformArgumentError, r'instances\[2\] has 2 keypoints_visible'),
])
def test_keypoint_annotation_errors(change, error, match):
    results = _coco_keypoint_results()
    change(results)
    with pytest.raises(error, match=match):
        LoadAnnotations(with_keypoints=True).transform(results)


def test_keypoints_from_an_mmpose_style_data_info():
    results = dict(
        img_shape=(60, 80),
        flip_indices=FLIP_INDICES,
        bbox=np.array([[0, 0, 10, 10], [5, 5, 20, 30]], np.float32),
        keypoints=np.arange(12, dtype=np.float32).reshape(2, 3, 2),
        keypoints_visible=np.array([[1, 0, 1], [1, 1, 1]], np.float32),
        category_id=[1, 1])
    out = LoadAnnotations(with_keypoints=True).transform(results)
    assert out['gt_keypoints'].keypoints[1].tolist() == [[6, 7], [8, 9],
                                                         [10, 11]]
    assert out['gt_keypoints'].num_keypoints.tolist() == [2, 3]
    # MMPose's category ids are 1-based
    assert out['gt_bboxes_labels'].tolist() == [0, 0]
    assert out['gt_bboxes'].tensor.tolist() == [[0, 0, 10, 10], [5, 5, 20, 30]]
    assert (out['height'], out['width']) == (60, 80)
    empty = LoadAnnotations(with_keypoints=True).transform(
        dict(img_shape=(60, 80), flip_indices=FLIP_INDICES))
    assert tuple(empty['gt_keypoints'].keypoints.shape) == (0, 3, 2)
    assert empty['gt_bboxes_labels'].shape == (0, )
