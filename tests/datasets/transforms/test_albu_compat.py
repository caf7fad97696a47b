"""MMDetection's Albu with albumentations 2.x, as the YOLOv5 configs use it.

The YOLOv5 train pipeline runs ``mmdet.Albu`` with Blur, MedianBlur, ToGray
and CLAHE and boxes as ``pascal_voc`` with two label fields; here every
transform is forced (p=1) on a real photo.
"""
import warnings

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from yolokit.registry import TRANSFORMS

pytest.importorskip('albumentations')

BBOX_PARAMS = dict(
    type='BboxParams',
    format='pascal_voc',
    label_fields=['gt_bboxes_labels', 'gt_ignore_flags'])
KEYMAP = {'img': 'image', 'gt_bboxes': 'bboxes'}


def _albu(transforms):
    with warnings.catch_warnings():
        # albumentations 2 warns that none of these image-only transforms
        # uses the bbox processor; harmless.
        warnings.simplefilter('ignore', UserWarning)
        return TRANSFORMS.build(
            dict(
                type='mmdet.Albu',
                transforms=transforms,
                bbox_params=BBOX_PARAMS,
                keymap=KEYMAP))


def _results(img, boxes):
    n = len(boxes)
    return dict(
        img=img.copy(),
        img_shape=img.shape[:2],
        gt_bboxes=HorizontalBoxes(
            torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)),
        gt_bboxes_labels=np.arange(n, dtype=np.int64) + 3,
        gt_ignore_flags=np.array([i % 2 == 1 for i in range(n)]))


@pytest.fixture(scope='module')
def photo(images_dir):
    return cv2.imread(f'{images_dir}/dog.jpg')


def test_yolov5_albu_pipeline_all_forced(photo):
    h, w = photo.shape[:2]
    boxes = [[10, 20, 200, 300], [100.5, 100, 400, 500], [0, 0, w, h]]
    albu = _albu([
        dict(type='Blur', p=1.0),
        dict(type='MedianBlur', p=1.0),
        dict(type='ToGray', p=1.0),
        dict(type='CLAHE', p=1.0)
    ])
    out = albu.transform(_results(photo, boxes))
    assert out['img'].shape == photo.shape and out['img'].dtype == np.uint8
    assert np.abs(out['img'].astype(int) - photo).mean() > 5
    assert isinstance(out['gt_bboxes'], HorizontalBoxes)
    assert out['gt_bboxes'].tensor.dtype == torch.float32
    torch.testing.assert_close(out['gt_bboxes'].tensor,
                               torch.tensor(boxes, dtype=torch.float32))
    assert out['gt_bboxes_labels'].tolist() == [3, 4, 5]
    assert out['gt_bboxes_labels'].dtype == np.int64
    assert out['gt_ignore_flags'].tolist() == [False, True, False]
    assert out['gt_ignore_flags'].dtype == bool


@pytest.mark.parametrize('name', ['Blur', 'MedianBlur', 'ToGray', 'CLAHE'])
def test_each_transform_runs(photo, name):
    out = _albu([dict(type=name, p=1.0)
                 ]).transform(_results(photo, [[10, 20, 200, 300]]))
    assert np.abs(out['img'].astype(int) - photo).mean() > 1
    if name == 'ToGray':
        assert (out['img'][..., 0] == out['img'][..., 1]).all()
        assert (out['img'][..., 1] == out['img'][..., 2]).all()
    assert out['gt_bboxes'].tensor.tolist() == [[10, 20, 200, 300]]


def test_image_without_boxes(photo):
    out = _albu([dict(type='Blur', p=1.0)]).transform(_results(photo, []))
    assert out['gt_bboxes'].tensor.shape == (0, 4)
    assert out['gt_bboxes_labels'].dtype == np.int64
    assert out['gt_ignore_flags'].dtype == bool
