"""Tests of Mosaic (spec 05 §5.4, 02 §1.1).

Golden values are hand-computed from the spec's placement rule: the 4
keep-ratio-resized tiles meet at the centre ``(cx, cy)``, top-left tile
above-left of it, and each tile's boxes move by its scale and by the
position of its top-left corner on the ``2h x 2w`` canvas.
"""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from yolokit.datasets.transforms.mosaic import Mosaic

# img_scale (w, h) = (64, 48): the canvas is 96 x 128 (h x w).
IMG_SCALE = (64, 48)
# centre ratios 0.75 and 1.25: cx = int(0.75 * 64) = 48, cy = int(1.25 * 48)
# = 60
RATIOS = (0.75, 1.25)


def _fixed_uniform(monkeypatch, values):
    it = iter(values)
    monkeypatch.setattr(np.random, 'uniform', lambda *a, **k: next(it))


class FakeKeypoints:
    """Stand-in with the part of the Keypoints API (spec 05 §5.21) that the
    mixing transforms use; ``xy`` is ``(N, K, 2)``."""

    def __init__(self, xy):
        self.xy = np.asarray(xy, dtype=np.float32).reshape(-1, 1, 2)

    def rescale_(self, scale):
        self.xy = self.xy * np.asarray(scale, dtype=np.float32)

    def translate_(self, distances):
        self.xy = self.xy + np.asarray(distances, dtype=np.float32)

    def clip_(self, img_shape):
        self.xy[..., 0] = self.xy[..., 0].clip(0, img_shape[1])
        self.xy[..., 1] = self.xy[..., 1].clip(0, img_shape[0])

    def flip_(self, img_shape, direction='horizontal'):
        assert direction == 'horizontal'
        self.xy[..., 0] = img_shape[1] - self.xy[..., 0]

    def clone(self):
        return FakeKeypoints(self.xy.copy())

    def __getitem__(self, index):
        return FakeKeypoints(self.xy[index])

    def __len__(self):
        return len(self.xy)

    @classmethod
    def cat(cls, items, dim=0):
        return cls(np.concatenate([k.xy for k in items], axis=dim))


def _patch(img, boxes, labels, flags=None):
    return {
        'img':
        img,
        'gt_bboxes':
        HorizontalBoxes(np.array(boxes, dtype=np.float32)),
        'gt_bboxes_labels':
        np.array(labels, dtype=np.int64),
        'gt_ignore_flags':
        np.array(flags if flags is not None else [False] * len(labels)),
    }


def _four_patches():
    # tile 0: 48x64 (h x w), scale min(48/48, 64/64) = 1; a gradient so the
    # crop offset is visible: channel 0 = column, channel 1 = row.
    img0 = np.zeros((48, 64, 3), dtype=np.uint8)
    img0[..., 0] = np.arange(64)[None, :]
    img0[..., 1] = np.arange(48)[:, None]
    # tile 1: 24x32, scale min(2, 2) = 2 -> 48x64
    img1 = np.full((24, 32, 3), 20, dtype=np.uint8)
    # tile 2: 96x64, scale min(0.5, 1) = 0.5 -> 48x32
    img2 = np.full((96, 64, 3), 30, dtype=np.uint8)
    # tile 3: 48x128, scale min(1, 0.5) = 0.5 -> 24x64
    img3 = np.full((48, 128, 3), 40, dtype=np.uint8)
    return [
        _patch(img0, [[20, 10, 40, 30]], [0]),
        _patch(img1, [[2, 3, 10, 12]], [1]),
        _patch(img2, [[10, 60, 50, 90]], [2], [True]),
        _patch(img3, [[100, 10, 128, 40]], [3]),
    ]


# Tile corners on the canvas: top_left (48-64, 60-48) = (-16, 12);
# top_right (48, 60-48) = (48, 12); bottom_left (48-32, 60) = (16, 60);
# bottom_right (48, 60).
EXPECTED_BOXES = np.array(
    [
        [20 - 16, 10 + 12, 40 - 16, 30 + 12],  # scale 1, + (-16, 12)
        [4 + 48, 6 + 12, 20 + 48, 24 + 12],  # *2 -> [4, 6, 20, 24]
        [5 + 16, 30 + 60, 25 + 16, 96],  # *0.5 -> [5, 30, 25, 45]; y2 105
        # clipped to the canvas height 96
        [50 + 48, 5 + 60, 64 + 48, 20 + 60],  # *0.5 -> [50, 5, 64, 20]
    ],
    dtype=np.float32)


def _mix(monkeypatch, **kwargs):
    patches = _four_patches()
    results = dict(patches[0], mix_results=patches[1:])
    _fixed_uniform(monkeypatch, RATIOS)
    return Mosaic(img_scale=IMG_SCALE, **kwargs).mix_img_transform(results)


def test_tiles_land_in_their_quadrants(monkeypatch):
    out = _mix(monkeypatch)
    img = out['img']
    assert img.shape == (96, 128, 3) and img.dtype == np.uint8
    assert out['img_shape'] == (96, 128)
    # top-left tile: canvas (y, x) shows tile pixel (y - 12, x + 16)
    np.testing.assert_array_equal(img[12:60, 0:48, 0],
                                  np.tile(np.arange(16, 64), (48, 1)))
    np.testing.assert_array_equal(img[12:60, 0:48, 1],
                                  np.tile(np.arange(0, 48)[:, None], (1, 48)))
    assert (img[12:60, 48:112] == 20).all()  # top-right
    assert (img[60:96, 16:48] == 30).all()  # bottom-left, cut at the bottom
    assert (img[60:84, 48:112] == 40).all()  # bottom-right
    # everything else is padding
    assert (img[0:12] == 114).all()
    assert (img[12:60, 112:] == 114).all()
    assert (img[60:96, 0:16] == 114).all()
    assert (img[84:96, 48:] == 114).all()
    assert (img[60:84, 112:] == 114).all()


def test_boxes_labels_flags(monkeypatch):
    out = _mix(monkeypatch)
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), EXPECTED_BOXES)
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [0, 1, 2, 3])
    assert out['gt_bboxes_labels'].dtype == np.int64
    np.testing.assert_array_equal(out['gt_ignore_flags'],
                                  [False, False, True, False])


def test_no_clip_removes_outside_boxes(monkeypatch):
    patches = _four_patches()
    # tile 0 is cropped at its left 16 columns: a box there ends up at
    # x in [-16, -6], outside the canvas
    patches[0] = _patch(patches[0]['img'], [[20, 10, 40, 30], [0, 0, 10, 5]],
                        [0, 9])
    results = dict(patches[0], mix_results=patches[1:])
    _fixed_uniform(monkeypatch, RATIOS)
    out = Mosaic(
        img_scale=IMG_SCALE, bbox_clip_border=False).mix_img_transform(results)
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [0, 1, 2, 3])
    # the partly outside bottom-left box is kept unclipped (y2 = 105)
    expected = EXPECTED_BOXES.copy()
    expected[2, 3] = 45 + 60
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), expected)


def test_masks_follow_boxes(monkeypatch):
    patches = _four_patches()
    # each tile's mask is the polygon of its box
    for p in patches:
        x1, y1, x2, y2 = p['gt_bboxes'].numpy()[0]
        h, w = p['img'].shape[:2]
        p['gt_masks'] = PolygonMasks(
            [[np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)]],
            h, w)
    results = dict(patches[0], mix_results=patches[1:])
    _fixed_uniform(monkeypatch, RATIOS)
    out = Mosaic(img_scale=IMG_SCALE).mix_img_transform(results)
    masks = out['gt_masks']
    assert isinstance(masks, PolygonMasks) and len(masks) == 4
    assert (masks.height, masks.width) == (96, 128)
    # the boxes of the moved polygons are the expected boxes (polygons are
    # clipped to the canvas like the boxes)
    np.testing.assert_allclose(
        masks.get_bboxes('hbox').numpy(), EXPECTED_BOXES, atol=1e-4)


def test_bitmap_masks(monkeypatch):
    patches = _four_patches()
    for p in patches:
        h, w = p['img'].shape[:2]
        m = np.zeros((1, h, w), dtype=np.uint8)
        x1, y1, x2, y2 = p['gt_bboxes'].numpy()[0].astype(int)
        m[0, y1:y2, x1:x2] = 1
        p['gt_masks'] = BitmapMasks(m, h, w)
    results = dict(patches[0], mix_results=patches[1:])
    _fixed_uniform(monkeypatch, RATIOS)
    out = Mosaic(img_scale=IMG_SCALE).mix_img_transform(results)
    masks = out['gt_masks']
    assert isinstance(masks, BitmapMasks) and masks.masks.shape == (4, 96, 128)
    # tile 0's mask (scale 1, no interpolation) moved by (-16, 12)
    ys, xs = np.nonzero(masks.masks[0])
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (4, 22, 24, 42)


def test_full_transform_with_dataset_numpy_and_boxes_types():
    dataset = _ListDataset(_four_patches()[1:])
    t = Mosaic(img_scale=IMG_SCALE)
    # numpy boxes in -> float32 numpy out
    res = _four_patches()[0]
    res['gt_bboxes'] = res['gt_bboxes'].numpy()
    res['dataset'] = dataset
    out = t(res)
    assert out['img'].shape == (96, 128, 3)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32
    assert out['gt_bboxes'].shape == (4, 4)
    assert 'mix_results' not in out and out['dataset'] is dataset
    # HorizontalBoxes in -> HorizontalBoxes (float32) out
    res = dict(_four_patches()[0], dataset=dataset)
    out = t(res)
    assert isinstance(out['gt_bboxes'], HorizontalBoxes)
    assert out['gt_bboxes'].tensor.dtype == torch.float32
    # clipped to the canvas
    b = out['gt_bboxes'].numpy()
    assert (b[:, 0::2] >= 0).all() and (b[:, 0::2] <= 128).all()
    assert (b[:, 1::2] >= 0).all() and (b[:, 1::2] <= 96).all()


def test_empty_boxes():
    patches = _four_patches()
    for p in patches:
        p.update(_patch(p['img'], np.zeros((0, 4)), []))
        p['gt_ignore_flags'] = np.zeros((0, ), dtype=bool)
    res = dict(patches[0], dataset=_ListDataset(patches[1:]))
    out = Mosaic(img_scale=IMG_SCALE)(res)
    assert out['gt_bboxes'].shape == (0, 4)
    assert out['gt_bboxes_labels'].shape == (0, )


def test_get_indexes_in_range():
    t = Mosaic()
    idx = t.get_indexes(list(range(5)))
    assert len(idx) == 3 and all(0 <= i < 5 for i in idx)


def test_grayscale_canvas(monkeypatch):
    patches = _four_patches()
    for p in patches:
        p['img'] = p['img'][..., 0].copy()
    results = dict(patches[0], mix_results=patches[1:])
    _fixed_uniform(monkeypatch, RATIOS)
    out = Mosaic(img_scale=IMG_SCALE).mix_img_transform(results)
    assert out['img'].shape == (96, 128)
    assert (out['img'][0:12] == 114).all()


def test_pad_val():
    patches = _four_patches()
    # every partner is tile 3 (24 rows high after resizing)
    res = dict(patches[0], dataset=_ListDataset([patches[3]]))
    t = Mosaic(img_scale=IMG_SCALE, pad_val=7, center_ratio_range=(1.0, 1.0))
    out = t(res)
    # centre (64, 48): the bottom tiles span y 48..72, the top-right one
    # y 24..48; the rest of those quadrants is pad_val
    assert (out['img'][72:] == 7).all()
    assert (out['img'][:24, 64:] == 7).all()
    assert (out['img'][48:72] == 40).all()


def test_pipeline_with_real_images(images_dir, tmp_path):
    """End to end: partners loaded from files by a config pre_transform."""
    paths = []
    for i, name in enumerate(('demo.jpg', 'dog.jpg')):
        img = cv2.imread(osp.join(images_dir, name))
        img = cv2.resize(img, (96, 64))
        path = str(tmp_path / f'{i}.png')
        cv2.imwrite(path, img)
        paths.append(path)

    class FileDataset:

        def __len__(self):
            return len(paths)

        def get_data_info(self, idx):
            return {
                'img_path':
                paths[idx],
                'instances': [{
                    'bbox': [10, 10, 50, 40],
                    'bbox_label': idx,
                    'ignore_flag': 0
                }]
            }

    pre = [
        dict(type='LoadImageFromFile'),
        dict(type='mmdet.LoadAnnotations', with_bbox=True)
    ]
    from mmcv.transforms import Compose
    from yolokit.registry import TRANSFORMS
    pipeline = Compose([TRANSFORMS.build(t) for t in pre] +
                       [Mosaic(img_scale=(64, 64), pre_transform=pre)])
    ds = FileDataset()
    np.random.seed(3)
    out = pipeline(dict(ds.get_data_info(0), dataset=ds))
    assert out['img'].shape == (128, 128, 3)
    assert len(out['gt_bboxes']) == 4
    assert out['gt_bboxes_labels'][0] == 0  # the current image comes first


class _ListDataset:

    def __init__(self, patches):
        self.patches = patches

    def __len__(self):
        return len(self.patches)

    def get_data_info(self, idx):
        return self.patches[idx]


def test_repr():
    assert 'img_scale=(64, 48)' in repr(Mosaic(img_scale=(64, 48)))


@pytest.mark.parametrize('bad', [640, (640, ), [0, 640]])
def test_invalid_img_scale(bad):
    with pytest.raises(AssertionError):
        Mosaic(img_scale=bad)


def test_keypoints_follow_boxes(monkeypatch):
    patches = _four_patches()
    # one keypoint per instance, at its box centre
    for p in patches:
        b = p['gt_bboxes'].numpy()
        p['gt_keypoints'] = FakeKeypoints((b[:, :2] + b[:, 2:]) / 2)
    results = dict(patches[0], mix_results=patches[1:])
    _fixed_uniform(monkeypatch, RATIOS)
    out = Mosaic(img_scale=IMG_SCALE).mix_img_transform(results)
    # centres of the moved, unclipped boxes; tile 2's (31, 97.5) is clipped
    # to the canvas height 96
    np.testing.assert_allclose(out['gt_keypoints'].xy[:, 0],
                               [[14, 32], [60, 27], [31, 96], [105, 72.5]])


def test_real_keypoints_outside_become_invisible(monkeypatch):
    from yolokit.datasets.transforms.keypoint_structure import Keypoints
    patches = _four_patches()
    for p in patches:
        b = p['gt_bboxes'].numpy()
        centres = (b[:, :2] + b[:, 2:]) / 2
        p['gt_keypoints'] = Keypoints(centres[:, None], [[1]] * len(b), [0])
    results = dict(patches[0], mix_results=patches[1:])
    _fixed_uniform(monkeypatch, RATIOS)
    out = Mosaic(img_scale=IMG_SCALE).mix_img_transform(results)
    kps = out['gt_keypoints']
    # the same centres as above, but tile 2's (31, 97.5) lies below the
    # 96-high canvas: it keeps its place and is marked invisible
    np.testing.assert_allclose(kps.keypoints[:, 0],
                               [[14, 32], [60, 27], [31, 97.5], [105, 72.5]])
    assert kps.keypoints_visible[:, 0].tolist() == [1, 1, 0, 1]
