"""MMDetection's high-level API works on yolokit configs (spec 01 §3.2).

``init_detector`` + ``inference_detector`` is how MIM users verify an
installation; the model is a YOLOv5-n with random weights, so any picture
does: the two here are generated, with sizes that are not multiples of 32
and of different aspect ratios, so that rescaling and clamping to the
original image are exercised.
"""
import os.path as osp

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample

CONFIG = 'configs/yolov5/yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py'
CLASSES = tuple(f'thing{i}' for i in range(80))


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """Two noisy BGR pictures, 427 x 640 and 300 x 200 (h x w)."""
    folder = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    paths = []
    for name, (h, w) in (('wide.jpg', (427, 640)), ('tall.jpg', (300, 200))):
        path = str(folder / name)
        cv2.imwrite(path, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        paths.append(path)
    return paths


@pytest.fixture(scope='module')
def checkpoint(repo_root, tmp_path_factory):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    torch.manual_seed(1)
    model = MODELS.build(Config.fromfile(osp.join(repo_root, CONFIG)).model)
    state_dict = model.state_dict()
    path = str(tmp_path_factory.mktemp('ckpt') / 'yolov5_n.pth')
    torch.save(
        dict(
            state_dict=state_dict,
            meta=dict(dataset_meta=dict(classes=CLASSES))), path)
    return path, state_dict


def test_init_and_inference_detector(repo_root, images, checkpoint):
    from mmdet.apis import inference_detector, init_detector
    path, saved = checkpoint
    model = init_detector(osp.join(repo_root, CONFIG), path, device='cpu')

    # the checkpoint's weights and class names were loaded
    loaded = model.state_dict()
    assert loaded.keys() == saved.keys()
    for key, value in saved.items():
        assert torch.equal(loaded[key], value), key
    assert tuple(model.dataset_meta['classes']) == CLASSES
    assert not model.training

    photo, other = images
    height, width = mmcv.imread(photo).shape[:2]
    result = inference_detector(model, photo)
    assert isinstance(result, DetDataSample)
    assert result.ori_shape == (height, width)
    pred = result.pred_instances
    n = len(pred)
    assert n > 0
    assert pred.bboxes.shape == (n, 4)
    assert pred.scores.shape == (n, ) and pred.labels.shape == (n, )
    # test_cfg: at most max_per_img boxes, scores above score_thr, sorted
    assert n <= model.cfg.model.test_cfg.max_per_img
    assert (pred.scores > model.cfg.model.test_cfg.score_thr).all()
    assert (pred.scores[:-1] >= pred.scores[1:]).all()
    assert ((pred.labels >= 0) & (pred.labels < len(CLASSES))).all()
    # boxes are in original-image pixels, inside the image, x1<=x2, y1<=y2
    b = pred.bboxes
    assert (b[:, 0] >= 0).all() and (b[:, 2] <= width).all()
    assert (b[:, 1] >= 0).all() and (b[:, 3] <= height).all()
    assert (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()

    # a list of images gives a list of results
    results = inference_detector(model, [photo, other])
    assert isinstance(results, list) and len(results) == 2
    assert results[1].ori_shape == (300, 200)
    torch.testing.assert_close(results[0].pred_instances.bboxes, b)

    # Last: mmdet's inference_detector switches model.cfg's loader to
    # LoadImageFromNDArray for good after an array input.
    # An in-memory BGR array gives the same predictions as the file
    from_array = inference_detector(model, mmcv.imread(photo))
    torch.testing.assert_close(from_array.pred_instances.bboxes, b)
    torch.testing.assert_close(from_array.pred_instances.scores, pred.scores)
