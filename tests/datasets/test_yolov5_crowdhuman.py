"""Tests of YOLOv5CrowdHumanDataset: CrowdHumanDataset plus batch shapes."""
import json

import cv2
import numpy as np

from yolokit.registry import DATASETS


def _write_sample(tmp_path):
    """One 40 x 30 (w x h) image with a person and an ignored box."""
    img_dir = tmp_path / 'Images'
    img_dir.mkdir()
    cv2.imwrite(str(img_dir / 'a1.jpg'), np.zeros((30, 40, 3), np.uint8))
    record = dict(
        ID='a1',
        gtboxes=[
            dict(
                tag='person',
                fbox=[1, 2, 10, 20],
                hbox=[1, 2, 3, 3],
                vbox=[1, 2, 10, 20],
                extra=dict(box_id=0)),
            dict(
                tag='mask',
                fbox=[5, 5, 4, 4],
                hbox=[5, 5, 1, 1],
                vbox=[5, 5, 4, 4],
                extra=dict(box_id=1, ignore=1)),
        ])
    (tmp_path / 'train.odgt').write_text(json.dumps(record) + '\n')


def test_crowdhuman_parsing_and_batch_shape(tmp_path):
    _write_sample(tmp_path)
    dataset = DATASETS.build(
        dict(
            type='YOLOv5CrowdHumanDataset',
            data_root=str(tmp_path),
            ann_file='train.odgt',
            data_prefix=dict(img='Images/'),
            pipeline=[],
            test_mode=True,
            batch_shapes_cfg=dict(type='BatchShapePolicy', batch_size=1)))
    info = dataset.get_data_info(0)
    assert (info['height'], info['width']) == (30, 40)
    # fbox (x, y, w, h) -> (x1, y1, x2, y2)
    assert [inst['bbox'] for inst in info['instances']] == [[1, 2, 11, 22],
                                                            [5, 5, 9, 9]]
    assert [inst['ignore_flag'] for inst in info['instances']] == [0, 1]
    # h/w = .75 -> h = ceil(.75*20 + .5) * 32 = 512, w = 672.
    assert info['batch_shape'].tolist() == [512, 672]
