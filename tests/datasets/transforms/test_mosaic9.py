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
from mmdet.structures.mask import PolygonMasks

from yolokit.datasets.transforms.mosaic9 import Mosaic9

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


def test_masks_are_rejected(monkeypatch):
    patches = _patches()
    patches[0]['gt_masks'] = PolygonMasks([[np.zeros(6)]], 15, 40)
    with pytest.raises(NotImplementedError, match='gt_masks'):
        _run(monkeypatch, patches)


def test_get_indexes():
    idx = Mosaic9().get_indexes(list(range(3)))
    assert len(idx) == 8 and all(0 <= i < 3 for i in idx)
