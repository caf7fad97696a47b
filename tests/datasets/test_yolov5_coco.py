"""Tests of YOLOv5CocoDataset: CocoDataset parsing plus batch shapes."""
import os.path as osp

from mmdet.datasets import CocoDataset

from yolokit.datasets import YOLOv5CocoDataset
from yolokit.registry import DATASETS


def _cfg(shared_data_dir, **kwargs):
    cfg = dict(
        ann_file=osp.join(shared_data_dir, 'samples', 'coco_sample.json'),
        data_prefix=dict(img='imgs/'),
        pipeline=[],
        test_mode=True)
    cfg.update(kwargs)
    return cfg


def test_parsing_matches_mmdet_coco(shared_data_dir):
    ours = DATASETS.build(
        dict(type='YOLOv5CocoDataset', **_cfg(shared_data_dir)))
    assert isinstance(ours, YOLOv5CocoDataset)
    reference = CocoDataset(**_cfg(shared_data_dir))
    assert len(ours) == len(reference) == 4
    for i in range(len(ours)):
        assert ours.get_data_info(i) == reference.get_data_info(i)


def test_training_filter_cfg_still_applies(shared_data_dir):
    # Image 2 has no annotation (dropped by filter_empty_gt); image 3 is
    # 30 x 20, below min_size=32.
    cfg = _cfg(
        shared_data_dir,
        test_mode=False,
        filter_cfg=dict(filter_empty_gt=True, min_size=32))
    dataset = YOLOv5CocoDataset(**cfg)
    ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    assert ids == [0, 1]
    reference = CocoDataset(**cfg)
    assert ids == [
        reference.get_data_info(i)['img_id'] for i in range(len(reference))
    ]
