"""Tests of YOLOv5VOCDataset: VOCDataset parsing plus batch shapes."""
import os.path as osp

from mmdet.datasets import VOCDataset

from yolokit.registry import DATASETS


def _cfg(shared_data_dir, **kwargs):
    cfg = dict(
        data_root=osp.join(shared_data_dir, 'samples', 'VOCdevkit'),
        ann_file='VOC2007/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        pipeline=[],
        test_mode=True)
    cfg.update(kwargs)
    return cfg


def test_parsing_matches_mmdet_voc(shared_data_dir):
    ours = DATASETS.build(
        dict(type='YOLOv5VOCDataset', **_cfg(shared_data_dir)))
    reference = VOCDataset(**_cfg(shared_data_dir))
    assert len(ours) == len(reference) == 1
    assert ours.get_data_info(0) == reference.get_data_info(0)
    assert ours.metainfo['classes'] == reference.metainfo['classes']


def test_batch_shape_for_portrait_voc_image(shared_data_dir):
    # 000001.xml: 353 x 500 (w x h), h/w = 1.416 > 1 -> rel (1, 353/500):
    #   h = ceil(640/32 + .5) * 32 = 672,
    #   w = ceil(.706 * 20 + .5) * 32 = ceil(14.62) * 32 = 480.
    dataset = DATASETS.build(
        dict(
            type='YOLOv5VOCDataset',
            batch_shapes_cfg=dict(type='BatchShapePolicy', batch_size=1),
            **_cfg(shared_data_dir)))
    assert dataset.get_data_info(0)['batch_shape'].tolist() == [672, 480]
