"""Fixtures shared by the config tests (test files import nothing from each
other under ``--import-mode=importlib``)."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate


@pytest.fixture
def predict_on_synthetic_image(tmp_path):
    """``predict(cfg, model, ori_hw=(150, 200)) -> DetDataSample``.

    Writes a random ``ori_hw`` photo, runs it through the config's own test
    pipeline and data preprocessor, and predicts with ``score_thr = 0`` so
    that even an untrained model keeps boxes to check. Checks what holds for
    every detector: the boxes are rescaled to the original image and
    clamped to it, and at most ``max_per_img`` are kept.
    """
    import cv2

    from yolokit.registry import TRANSFORMS

    def predict(cfg, model, ori_hw=(150, 200)):
        ori_h, ori_w = ori_hw
        img_path = str(tmp_path / 'synthetic.png')
        cv2.imwrite(
            img_path,
            np.random.default_rng(0).integers(
                0, 256, (ori_h, ori_w, 3), dtype=np.uint8))
        results = dict(img_path=img_path, img_id=0, instances=[])
        for step in cfg.test_dataloader.dataset.pipeline:
            results = TRANSFORMS.build(step)(results)
        data = model.data_preprocessor(pseudo_collate([results]), False)
        img_w, img_h = cfg.img_scale
        assert data['inputs'].shape == (1, 3, img_h, img_w)
        model.bbox_head.test_cfg['score_thr'] = 0.0
        with torch.no_grad():
            sample, = model(**data, mode='predict')
        assert tuple(sample.ori_shape) == (ori_h, ori_w)
        pred = sample.pred_instances
        assert 0 < len(pred) <= cfg.model.test_cfg.max_per_img
        assert pred.bboxes[:, 0::2].min() >= 0
        assert pred.bboxes[:, 0::2].max() <= ori_w
        assert pred.bboxes[:, 1::2].min() >= 0
        assert pred.bboxes[:, 1::2].max() <= ori_h
        return sample

    return predict
