"""LabelmeFormat writes the labelme 5.1.1 layout of spec 03 §3.2."""
import json
import os.path as osp

import pytest
import torch
from mmengine.structures import InstanceData

from yolokit.utils.labelme_utils import LabelmeFormat

CLASSES = ('cat', 'dog', 'bird')


def _preds():
    return InstanceData(
        bboxes=torch.tensor([[10., 20., 110., 220.], [1.5, 2.5, 3.5, 4.5],
                             [50., 60., 70., 80.]]),
        scores=torch.tensor([0.9, 0.8, 0.7]),
        labels=torch.tensor([0, 2, 0]))


META = dict(img_path='some/dir/img.jpg', ori_shape=(480, 640))


def test_file_layout_matches_spec(tmp_path):
    out = str(tmp_path / 'img.json')
    LabelmeFormat(CLASSES)(_preds(), META, out, None)
    with open(out, encoding='utf-8') as f:
        content = json.load(f)

    assert content == {
        'version': '5.1.1',
        'flags': {},
        'imagePath': osp.abspath('some/dir/img.jpg'),
        'imageData': None,
        'imageHeight': 480,
        'imageWidth': 640,
        'shapes': [
            {'label': 'cat', 'points': [[10., 20.], [110., 220.]],
             'group_id': None, 'shape_type': 'rectangle', 'flags': {}},
            {'label': 'bird', 'points': [[1.5, 2.5], [3.5, 4.5]],
             'group_id': None, 'shape_type': 'rectangle', 'flags': {}},
            {'label': 'cat', 'points': [[50., 60.], [70., 80.]],
             'group_id': None, 'shape_type': 'rectangle', 'flags': {}},
        ]
    }


def test_selected_classes_filter_shapes():
    content = LabelmeFormat(CLASSES).to_dict(_preds(), META, ['bird'])
    assert [s['label'] for s in content['shapes']] == ['bird']
    assert content['shapes'][0]['points'] == [[1.5, 2.5], [3.5, 4.5]]


def test_no_predictions_gives_no_shapes():
    empty = InstanceData(
        bboxes=torch.zeros((0, 4)),
        scores=torch.zeros((0, )),
        labels=torch.zeros((0, ), dtype=torch.long))
    assert LabelmeFormat(CLASSES).to_dict(empty, META)['shapes'] == []


def test_non_ascii_label_is_written_verbatim(tmp_path):
    out = str(tmp_path / 'x.json')
    preds = InstanceData(
        bboxes=torch.tensor([[0., 0., 1., 1.]]), labels=torch.tensor([0]))
    LabelmeFormat(('猫', ))(preds, META, out, None)
    with open(out, encoding='utf-8') as f:
        text = f.read()
    assert '猫' in text
    assert json.loads(text)['shapes'][0]['label'] == '猫'


def test_label_without_class_name_is_an_error():
    preds = InstanceData(
        bboxes=torch.tensor([[0., 0., 1., 1.]]), labels=torch.tensor([3]))
    with pytest.raises(IndexError, match='label 3'):
        LabelmeFormat(CLASSES).to_dict(preds, META)


def test_missing_meta_key_is_an_error():
    with pytest.raises(KeyError, match='ori_shape'):
        LabelmeFormat(CLASSES).to_dict(_preds(), dict(img_path='a.jpg'))


def test_exported_from_yolokit_utils():
    import yolokit.utils
    assert yolokit.utils.LabelmeFormat is LabelmeFormat
    assert 'LabelmeFormat' in yolokit.utils.__all__
