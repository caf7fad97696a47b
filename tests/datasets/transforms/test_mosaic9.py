"""Tests of Mosaic9 (spec 05 §5.5).

The hand-computed layout uses the placement rule of the spec (the YOLOv5
``load_mosaic9`` layout): with tile size ``(w, h) = (40, 30)`` the centre
tile's corner is at ``(40, 30)`` on the 90 x 120 canvas and the others lean
on the centre tile and on the previously placed tile, clockwise from the
top. The output is the 60 x 80 window at the random offset.
"""
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from yolokit.datasets.transforms.keypoint_structure import Keypoints
from yolokit.datasets.transforms.mosaic9 import Mosaic9, nine_tile_origins

IMG_SCALE = (40, 30)
# tile sizes (h, w); every one fits the 30 x 40 tile, so the scale is 1
SIZES = [
    (15, 40),  # center
    (30, 20),  # top
    (30, 20),  # top_right
    (30, 40),  # right
    (20, 40),  # bottom_right
    (30, 10),  # bottom
    (30, 40),  # bottom_left
    (30, 40),  # left
    (30, 40),  # top_left
]
# top-left corners (x, y), by hand:
# center (40, 30); top (40, 30-30); top_right (40+20 [top w], 30-30);
# right (40+40 [centre w], 30); bottom_right (80, 30+30 [right h]);
# bottom (40+40-10, 30+15 [centre h]); bottom_left (80-10 [bottom w]-40, 45);
# left (40-40, 45-30); top_left (0, 45-30 [left h]-30) = (0, -15)
ORIGINS = [(40, 30), (40, 0), (60, 0), (80, 30), (80, 60), (70, 45), (30, 45),
           (0, 15), (0, -15)]
OFFSET = (10, 5)


def _patches(with_boxes=True):
    patches = []
    for i, (h, w) in enumerate(SIZES):
        img = np.full((h, w, 3), 10 * (i + 1), dtype=np.uint8)
        p = {'img': img}
        if with_boxes:
            # one box covering the whole tile
            p['gt_bboxes'] = HorizontalBoxes(
                np.array([[0, 0, w, h]], dtype=np.float32))
            p['gt_bboxes_labels'] = np.array([i], dtype=np.int64)
            p['gt_ignore_flags'] = np.array([False])
        patches.append(p)
    # top_left tile: a row gradient shows which rows survive the crop
    patches[8]['img'][..., 0] = np.arange(30, dtype=np.uint8)[:, None]
    return patches


def _run(monkeypatch, patches, **kwargs):
    # offsets are int(U(0, w)) and int(U(0, h)), drawn x first
    values = iter([OFFSET[0] + 0.7, OFFSET[1] + 0.2])
    monkeypatch.setattr(np.random, 'uniform', lambda *a, **k: next(values))
    results = dict(patches[0], mix_results=patches[1:])
    return Mosaic9(img_scale=IMG_SCALE, **kwargs).mix_img_transform(results)


def _expected_boxes():
    boxes = []
    for (h, w), (x, y) in zip(SIZES, ORIGINS):
        boxes.append([
            x - OFFSET[0], y - OFFSET[1], x + w - OFFSET[0], y + h - OFFSET[1]
        ])
    return np.array(boxes, dtype=np.float32)


def test_layout_and_crop(monkeypatch):
    out = _run(monkeypatch, _patches())
    img = out['img']
    assert img.shape == (60, 80, 3)
    assert out['img_shape'] == (60, 80)
    ox, oy = OFFSET
    for i, ((h, w), (x, y)) in enumerate(zip(SIZES, ORIGINS)):
        if i == 8:
            continue
        x1, y1 = max(x - ox, 0), max(y - oy, 0)
        x2, y2 = min(x + w - ox, 80), min(y + h - oy, 60)
        if x2 > x1 and y2 > y1:
            assert (img[y1:y2, x1:x2, 1] == 10 * (i + 1)).all(), i
    # top_left: canvas rows 0..15 show tile rows 15..30; the output starts
    # at canvas row 5 and column 10, so output rows 0..10 are tile rows
    # 20..30 and columns 0..30 are tile columns 10..40
    np.testing.assert_array_equal(img[0:10, 0:30, 0],
                                  np.tile(np.arange(20, 30)[:, None], (1, 30)))
    # unfilled canvas is padding: right of top_right (canvas x >= 80) and
    # above the right tile (y < 30)
    assert (img[0:30 - oy, 80 - ox:] == 114).all()
    # below top_left/left and left of bottom_left: canvas x < 30, y >= 45
    assert (img[45 - oy:, 0:30 - ox] == 114).all()


def test_boxes_translated_and_clipped(monkeypatch):
    out = _run(monkeypatch, _patches())
    expected = _expected_boxes()
    expected[:, 0::2] = expected[:, 0::2].clip(0, 80)
    expected[:, 1::2] = expected[:, 1::2].clip(0, 60)
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), expected)
    np.testing.assert_array_equal(out['gt_bboxes_labels'], np.arange(9))


def test_no_clip_drops_outside_boxes(monkeypatch):
    patches = _patches()
    # a second box on the right tile at its right edge: canvas x 110..120,
    # output x 100..110 > 80, so it is outside
    patches[3]['gt_bboxes'] = HorizontalBoxes(
        np.array([[0, 0, 40, 30], [30, 0, 40, 10]], dtype=np.float32))
    patches[3]['gt_bboxes_labels'] = np.array([3, 99])
    patches[3]['gt_ignore_flags'] = np.array([False, True])
    out = _run(monkeypatch, patches, bbox_clip_border=False)
    assert 99 not in out['gt_bboxes_labels']
    assert len(out['gt_bboxes']) == 9
    assert not out['gt_ignore_flags'].any()
    # kept boxes are not clipped: top_left keeps y1 = -15 - 5
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), _expected_boxes())


def test_resized_tiles():
    # a 60 x 80 image with tile (40, 30) is halved; the centre tile's box
    # [20, 10, 60, 50] -> [10, 5, 30, 25] at corner (40, 30)
    patches = _patches()
    patches[0] = {
        'img':
        np.zeros((60, 80, 3), dtype=np.uint8),
        'gt_bboxes':
        HorizontalBoxes(np.array([[20, 10, 60, 50]], dtype=np.float32)),
        'gt_bboxes_labels':
        np.array([0]),
        'gt_ignore_flags':
        np.array([False]),
    }
    np.random.seed(0)
    out = Mosaic9(img_scale=IMG_SCALE).mix_img_transform(
        dict(patches[0], mix_results=patches[1:]))
    # whatever the offset, box 0 is the centre box moved by -offset
    b = out['gt_bboxes'].numpy()[0]
    assert b[2] - b[0] == pytest.approx(20) and b[3] - b[1] == pytest.approx(
        20)
    assert 0 <= 50 - b[0] < 40 and 0 <= 35 - b[1] < 30


def test_full_transform_numpy_boxes():

    class DS:

        def __len__(self):
            return 8

        def get_data_info(self, idx):
            p = _patches()[idx + 1]
            p['gt_bboxes'] = p['gt_bboxes'].numpy()  # box_type=None loader
            return p

    res = _patches()[0]
    res['gt_bboxes'] = res['gt_bboxes'].numpy()
    res['dataset'] = DS()
    out = Mosaic9(img_scale=IMG_SCALE)(res)
    assert out['img'].shape == (60, 80, 3)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32
    assert out['gt_bboxes'].shape == (9, 4)
    assert 'mix_results' not in out


def _clipped_expected_boxes():
    expected = _expected_boxes()
    expected[:, 0::2] = expected[:, 0::2].clip(0, 80)
    expected[:, 1::2] = expected[:, 1::2].clip(0, 60)
    return expected


def test_polygon_masks_go_where_their_tiles_go(monkeypatch):
    patches = _patches()
    for p in patches:
        h, w = p['img'].shape[:2]
        # each tile's mask is the polygon of the whole tile
        p['gt_masks'] = PolygonMasks(
            [[np.array([0, 0, w, 0, w, h, 0, h], dtype=np.float64)]], h, w)
    out = _run(monkeypatch, patches)
    masks = out['gt_masks']
    assert isinstance(masks, PolygonMasks) and len(masks) == 9
    assert (masks.height, masks.width) == (60, 80)
    # moved like the boxes and cut at the output edges: the polygons'
    # boxes are the clipped boxes of the hand-made ORIGINS table
    np.testing.assert_allclose(
        masks.get_bboxes('hbox').numpy(), _clipped_expected_boxes())


def test_polygon_at_a_known_place(monkeypatch):
    patches = _patches()
    for p in patches:
        h, w = p['img'].shape[:2]
        p['gt_masks'] = PolygonMasks([[np.zeros(6)]], h, w)
    # centre tile, corner (40, 30): square x 5..15, y 5..10 -> canvas
    # x 45..55, y 35..40 -> output (offset (10, 5)) x 35..45, y 30..35
    patches[0]['gt_masks'] = PolygonMasks(
        [[np.array([5., 5, 15, 5, 15, 10, 5, 10])]], 15, 40)
    # top_left tile, corner (0, -15): x 2..12, y 3..25 -> canvas y -12..10
    # -> output x -8..2, y -17..5, cut at 0: x 0..2, y 0..5
    patches[8]['gt_masks'] = PolygonMasks(
        [[np.array([2., 3, 12, 3, 12, 25, 2, 25])]], 30, 40)
    out = _run(monkeypatch, patches)
    np.testing.assert_allclose(out['gt_masks'].masks[0][0],
                               [35, 30, 45, 30, 45, 35, 35, 35])
    np.testing.assert_allclose(out['gt_masks'].masks[8][0],
                               [0, 0, 2, 0, 2, 5, 0, 5])


def test_bitmap_masks_go_where_their_tiles_go(monkeypatch):
    patches = _patches()
    for p in patches:
        h, w = p['img'].shape[:2]
        p['gt_masks'] = BitmapMasks(np.ones((1, h, w), np.uint8), h, w)
    out = _run(monkeypatch, patches)
    masks = out['gt_masks']
    assert isinstance(masks, BitmapMasks)
    assert masks.masks.shape == (9, 60, 80)
    for i, (x1, y1, x2, y2) in enumerate(_clipped_expected_boxes()):
        ys, xs = np.nonzero(masks.masks[i])
        if x2 <= x1 or y2 <= y1:  # the tile is cut off entirely
            assert len(xs) == 0, i
            continue
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2,
                                                                    y2), i
        assert masks.masks[i].sum() == (x2 - x1) * (y2 - y1), i


def test_partner_without_masks_is_a_key_error(monkeypatch):
    patches = _patches()
    patches[0]['gt_masks'] = PolygonMasks([[np.zeros(6)]], 15, 40)
    with pytest.raises(KeyError, match='gt_masks'):
        _run(monkeypatch, patches)


def test_keypoints_follow_their_tiles(monkeypatch):
    patches = _patches()
    for p in patches:
        h, w = p['img'].shape[:2]
        p['gt_keypoints'] = Keypoints([[[w / 2, h / 2]]], [[1]], [0])
    out = _run(monkeypatch, patches)
    # tile centre + corner - offset (10, 5), e.g. the centre tile:
    # (20 + 40 - 10, 7.5 + 30 - 5) = (50, 32.5); top_left: (20 + 0 - 10,
    # 15 - 15 - 5) = (10, -5)
    expected = [(50, 32.5), (40, 10), (60, 10), (90, 40), (90, 65), (65, 55),
                (40, 55), (10, 25), (10, -5)]
    np.testing.assert_allclose(out['gt_keypoints'].keypoints[:, 0], expected)
    # clipping hides those outside the 80 x 60 output: right (x 90),
    # bottom_right (x 90, y 65) and top_left (y -5)
    assert out['gt_keypoints'].keypoints_visible[:, 0].tolist() == [
        1, 1, 1, 0, 0, 1, 1, 1, 0
    ]


def test_get_indexes():
    idx = Mosaic9().get_indexes(list(range(3)))
    assert len(idx) == 8 and all(0 <= i < 3 for i in idx)


def test_nine_tile_origins_by_hand():
    # SIZES as (w, h); the result is the hand-made ORIGINS table
    sizes_wh = [(w, h) for h, w in SIZES]
    assert nine_tile_origins(IMG_SCALE, sizes_wh) == ORIGINS
