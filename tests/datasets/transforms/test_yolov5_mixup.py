"""Tests of YOLOv5MixUp (spec 05 §5.19, 02 §1.1): ``img = ori * r + other *
(1 - r)`` with ``r ~ Beta(32, 32)``, annotations concatenated (originals
first)."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import PolygonMasks

from yolokit.datasets.transforms.yolov5_mixup import YOLOv5MixUp


def _sample(value, boxes, labels, shape=(16, 24, 3), masks=False):
    img = np.full(shape, value, dtype=np.uint8)
    res = {
        'img': img,
        'gt_bboxes': HorizontalBoxes(np.array(boxes, dtype=np.float32)),
        'gt_bboxes_labels': np.array(labels, dtype=np.int64),
        'gt_ignore_flags': np.zeros(len(labels), dtype=bool),
    }
    if masks:
        res['gt_masks'] = PolygonMasks(
            [[np.array([b[0], b[1], b[2], b[1], b[2], b[3]], dtype=float)]
             for b in boxes], shape[0], shape[1])
    return res


def _fixed_beta(monkeypatch, r, calls):

    def beta(a, b, *args, **kwargs):
        calls.append((a, b))
        return r

    monkeypatch.setattr(np.random, 'beta', beta)


def test_blend_and_concat(monkeypatch):
    calls = []
    _fixed_beta(monkeypatch, 0.3, calls)
    ori = _sample(100, [[1, 1, 5, 5]], [3])
    other = _sample(200, [[2, 2, 8, 9], [0, 0, 4, 4]], [7, 8])
    other['gt_ignore_flags'] = np.array([True, False])
    out = YOLOv5MixUp().mix_img_transform(dict(ori, mix_results=[other]))
    assert calls == [(32.0, 32.0)]  # the Beta(32, 32) default
    # 100 * 0.3 + 200 * 0.7 = 170
    assert out['img'].dtype == np.uint8
    assert (out['img'] == 170).all()
    assert out['img_shape'] == (16, 24)
    np.testing.assert_array_equal(out['gt_bboxes'].numpy(),
                                  [[1, 1, 5, 5], [2, 2, 8, 9], [0, 0, 4, 4]])
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [3, 7, 8])
    np.testing.assert_array_equal(out['gt_ignore_flags'], [False, True, False])


def test_blend_truncates_like_astype(monkeypatch):
    _fixed_beta(monkeypatch, 0.55, [])
    rng = np.random.RandomState(0)
    ori = _sample(0, [[0, 0, 1, 1]], [0])
    other = _sample(0, [[0, 0, 1, 1]], [0])
    ori['img'] = rng.randint(0, 256, (16, 24, 3)).astype(np.uint8)
    other['img'] = rng.randint(0, 256, (16, 24, 3)).astype(np.uint8)
    r = 0.55
    expected = (ori['img'].astype(np.float64) * r +
                other['img'].astype(np.float64) * (1 - r)).astype(np.uint8)
    out = YOLOv5MixUp().mix_img_transform(dict(ori, mix_results=[other]))
    np.testing.assert_array_equal(out['img'], expected)


def test_custom_alpha_beta(monkeypatch):
    calls = []
    _fixed_beta(monkeypatch, 0.5, calls)
    ori, other = _sample(0, [], []), _sample(0, [], [])
    YOLOv5MixUp(
        alpha=8.0, beta=2.0).mix_img_transform(dict(ori, mix_results=[other]))
    assert calls == [(8.0, 2.0)]


def test_shape_mismatch_asserts():
    ori = _sample(0, [[0, 0, 1, 1]], [0])
    other = _sample(0, [[0, 0, 1, 1]], [0], shape=(16, 20, 3))
    with pytest.raises(AssertionError, match='same shape'):
        YOLOv5MixUp().mix_img_transform(dict(ori, mix_results=[other]))


def test_masks_concatenated(monkeypatch):
    _fixed_beta(monkeypatch, 0.5, [])
    ori = _sample(0, [[1, 1, 5, 5]], [0], masks=True)
    other = _sample(0, [[2, 2, 8, 9]], [1], masks=True)
    out = YOLOv5MixUp().mix_img_transform(dict(ori, mix_results=[other]))
    assert isinstance(out['gt_masks'], PolygonMasks)
    assert len(out['gt_masks']) == 2
    np.testing.assert_array_equal(out['gt_masks'].masks[1][0],
                                  [2, 2, 8, 2, 8, 9])
    # masks in the main results need masks in the partner
    ori = _sample(0, [[1, 1, 5, 5]], [0], masks=True)
    other = _sample(0, [[2, 2, 8, 9]], [1])
    with pytest.raises(KeyError, match='gt_masks'):
        YOLOv5MixUp().mix_img_transform(dict(ori, mix_results=[other]))


def test_full_transform_with_dataset_and_pre_transform():

    class DS:

        def __len__(self):
            return 3

        def get_data_info(self, idx):
            return {'idx': idx}

    def load(data):
        # stands for Load* + Mosaic + affine producing the same size
        s = _sample(50, [[0, 0, 2, 2]], [data['idx']])
        s['gt_bboxes'] = s['gt_bboxes'].numpy()
        return s

    ds = DS()
    res = _sample(150, [[1, 1, 3, 3]], [9])
    res['gt_bboxes'] = res['gt_bboxes'].numpy()
    res['dataset'] = ds
    np.random.seed(1)
    out = YOLOv5MixUp(pre_transform=[load])(res)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].dtype == np.float32
    assert out['gt_bboxes'].shape == (2, 4)
    assert out['gt_bboxes_labels'][0] == 9
    assert 0 <= out['gt_bboxes_labels'][1] < 3
    # r ~ Beta(32, 32) lies in (0, 1): the blend is between 50 and 150
    assert 50 <= out['img'].min() and out['img'].max() <= 150
    assert 'mix_results' not in out and out['dataset'] is ds


def test_horizontal_boxes_stay_float32_boxes():
    ori = _sample(10, [[1, 1, 3, 3]], [0])
    other = _sample(10, [[0, 0, 2, 2]], [1])

    class DS:

        def __len__(self):
            return 1

        def get_data_info(self, idx):
            return other

    out = YOLOv5MixUp()(dict(ori, dataset=DS()))
    assert isinstance(out['gt_bboxes'], HorizontalBoxes)
    assert out['gt_bboxes'].tensor.dtype == torch.float32


def test_prob():
    res = _sample(10, [[1, 1, 3, 3]], [0])
    out = YOLOv5MixUp(prob=0.0)(res)
    assert len(out['gt_bboxes']) == 1


def test_invalid_beta_params():
    with pytest.raises(ValueError, match='alpha'):
        YOLOv5MixUp(alpha=0)


def test_yolov5_m_style_pipeline(images_dir, tmp_path):
    """Mosaic + affine, then MixUp whose partner runs the same chain (spec
    02 §1.1): the second mixer still finds the dataset after Mosaic."""
    import os.path as osp

    import cv2
    from mmcv.transforms import Compose

    from yolokit.registry import TRANSFORMS

    paths = []
    for i, name in enumerate(('demo.jpg', 'dog.jpg', 'large_image.jpg')):
        img = cv2.resize(cv2.imread(osp.join(images_dir, name)), (80, 60))
        paths.append(str(tmp_path / f'{i}.png'))
        cv2.imwrite(paths[-1], img)

    class FileDataset:

        def __len__(self):
            return len(paths)

        def get_data_info(self, idx):
            return {
                'img_path':
                paths[idx],
                'instances': [{
                    'bbox': [10, 10, 60, 50],
                    'bbox_label': idx,
                    'ignore_flag': 0
                }]
            }

    img_scale = (64, 64)
    pre = [
        dict(type='LoadImageFromFile'),
        dict(type='mmdet.LoadAnnotations', with_bbox=True)
    ]
    mosaic_affine = [
        dict(
            type='Mosaic',
            img_scale=img_scale,
            pad_val=114.0,
            pre_transform=pre),
        dict(
            type='YOLOv5RandomAffine',
            max_rotate_degree=0.0,
            max_shear_degree=0.0,
            scaling_ratio_range=(0.5, 1.5),
            border=(-img_scale[0] // 2, -img_scale[1] // 2))
    ]
    pipeline = Compose([
        TRANSFORMS.build(t) for t in [
            *pre, *mosaic_affine,
            dict(
                type='YOLOv5MixUp',
                prob=1.0,
                pre_transform=[*pre, *mosaic_affine])
        ]
    ])
    ds = FileDataset()
    np.random.seed(0)
    out = pipeline(dict(ds.get_data_info(0), dataset=ds))
    assert out['img'].shape == (64, 64, 3)
    assert out['img_shape'] == (64, 64)
    n = len(out['gt_bboxes'])
    assert out['gt_bboxes_labels'].shape == (n, )
    assert out['gt_ignore_flags'].shape == (n, )
    assert 'mix_results' not in out


def test_rtmdet_style_cached_pipeline():
    """Cached Mosaic and MixUp need no dataset (spec 02 §3.1)."""
    from yolokit.datasets.transforms.mosaic import Mosaic
    mosaic = Mosaic(
        img_scale=(32, 32),
        use_cached=True,
        max_cached_images=6,
        random_pop=False)
    mixup = YOLOv5MixUp(use_cached=True, max_cached_images=6, random_pop=False)
    np.random.seed(0)
    shapes = []
    for i in range(8):
        res = _sample(i * 10, [[1, 1, 9, 9]], [i], shape=(32, 32, 3))
        res = mosaic(res)
        shapes.append(res['img'].shape)
        if res['img'].shape != (64, 64, 3):
            continue  # mixup needs equal shapes: only once Mosaic mixes
        res = mixup(res)
        assert res['img'].shape == (64, 64, 3)
    # Mosaic starts mixing at the 5th call
    assert shapes[:4] == [(32, 32, 3)] * 4
    assert shapes[4:] == [(64, 64, 3)] * 4
    assert len(mosaic.results_cache) == 6
