"""The PP-YOLOE+ training data path end to end on the shared COCO sample.

Everything but the dataset comes from MMYOLO 0.6.0's
``ppyoloe_plus_s_fast_8xb8-80e_coco.py``: its train pipeline
(PPYOLOERandomDistort -> mmdet.Expand -> PPYOLOERandomCrop ->
mmdet.RandomFlip -> mmdet.PackDetInputs), its collate function
(``yolov5_collate`` with ``use_ms_training=True``: images keep their own
sizes) and its data preprocessor (PPYOLOEBatchRandomResize, 320..800).
"""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine import MessageHub
from mmengine.config import Config
from mmengine.runner import Runner

from yolokit.registry import DATASETS, MODELS

CONFIG = osp.join(
    osp.dirname(__file__), '..', '..', '.venv', 'reference', 'mmyolo-0.6.0',
    'mmyolo', '.mim', 'configs', 'ppyoloe',
    'ppyoloe_plus_s_fast_8xb8-80e_coco.py')


def test_train_batch_reaches_the_model_input_format(shared_data_dir):
    if not osp.exists(CONFIG):
        pytest.skip(f'MMYOLO 0.6.0 config {CONFIG} not found (see the '
                    '`mmyolo_reference` fixture in tests/conftest.py)')
    cfg = Config.fromfile(CONFIG)
    samples = osp.join(shared_data_dir, 'samples')
    np.random.seed(0)
    dataset = DATASETS.build(
        dict(
            type='YOLOv5CocoDataset',
            ann_file=osp.join(samples, 'coco_sample_color.json'),
            data_prefix=dict(img=samples + '/'),
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=cfg.train_pipeline))
    collate_fn = dict(cfg.train_dataloader.collate_fn, _scope_='yolokit')
    loader = Runner.build_dataloader(
        dict(
            batch_size=2,
            num_workers=0,
            dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=collate_fn))
    batch = next(iter(loader))
    assert isinstance(batch['inputs'], list)  # sizes differ after the crop
    assert len(batch['data_samples']['bboxes_labels']) > 0

    preprocessor = MODELS.build(cfg.model.data_preprocessor.to_dict())
    MessageHub.get_current_instance().update_info('iter', 0)
    out = preprocessor(batch, training=True)
    inputs = out['inputs']
    side = inputs.shape[-1]
    assert inputs.shape == (len(batch['inputs']), 3, side, side)
    assert side % 32 == 0 and 320 <= side <= 800
    assert inputs.dtype == torch.float32 and torch.isfinite(inputs).all()
    rows = out['data_samples']['bboxes_labels']
    before = batch['data_samples']['bboxes_labels']
    # each image (C, h, w) was stretched to side x side: x * side / w,
    # y * side / h; boxes inside their crop stay inside the new image
    sizes = torch.tensor([img.shape[1:] for img in batch['inputs']])
    h, w = sizes[before[:, 0].long()].float().T
    scale = torch.stack([side / w, side / h] * 2, 1)
    torch.testing.assert_close(rows[:, 2:], before[:, 2:] * scale)
    torch.testing.assert_close(rows[:, :2], before[:, :2])
    assert (rows[:, 2:] >= 0).all() and (rows[:, 2:] <= side + 1e-3).all()
    assert out['data_samples']['img_metas'][0] == {
        'batch_input_shape': (side, side)
    }
