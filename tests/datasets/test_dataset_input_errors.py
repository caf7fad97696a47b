"""Bad dataset inputs fail at construction, naming the file and position."""
import json
import pickle
import xml.etree.ElementTree as ET

import pytest
import torch

from yolokit.datasets.annotation_errors import (AnnotationDecodeError,
                                                AnnotationParseError,
                                                UnknownClassesError)
from yolokit.datasets.yolov5_collate import yolov5_collate
from yolokit.datasets.yolov5_crowdhuman import odgt_line_number
from yolokit.registry import DATASETS

_IMG = dict(img='')


def _coco(tmp_path, categories=('cat', 'dog', 'bird')):
    ann = dict(
        images=[dict(id=1, file_name='a.jpg', width=8, height=8)],
        annotations=[
            dict(
                id=1,
                image_id=1,
                category_id=2,
                bbox=[1, 1, 4, 4],
                area=16,
                iscrowd=0)
        ],
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(categories)])
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(ann))
    return path


def _build(type_, **kwargs):
    return DATASETS.build(dict(type=type_, pipeline=[], **kwargs))


def test_coco_invalid_json_names_file_line_and_column(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('{"images": [],\n "annotations": [}\n')
    with pytest.raises(json.JSONDecodeError) as info:
        _build('YOLOv5CocoDataset', ann_file=str(path))
    err = info.value
    assert isinstance(err, AnnotationDecodeError)
    # line 2, column 18 is the "}" (1-based, as json reports it)
    assert (err.lineno, err.colno) == (2, 18)
    assert str(err).startswith(f'{path}:2:18: invalid JSON: Expecting value;'
                               ' expected a COCO-format JSON file.')
    assert ' "annotations": [}\n' + ' ' * 21 + '^' in str(err)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def test_coco_unknown_class_is_an_error_with_close_matches(tmp_path):
    path = _coco(tmp_path)
    with pytest.raises(ValueError) as info:
        _build(
            'YOLOv5CocoDataset',
            ann_file=str(path),
            data_prefix=_IMG,
            metainfo=dict(classes=('cat', 'dgo', 'horse')))
    msg = str(info.value)
    assert isinstance(info.value, UnknownClassesError)
    assert f"no category of {path} has: ['dgo', 'horse']" in msg
    assert '"dgo" -> \'dog\'?' in msg
    assert "categories: 'cat', 'dog', 'bird'." in msg


def test_coco_known_and_default_classes_load(tmp_path):
    path = _coco(tmp_path)
    dataset = _build(
        'YOLOv5CocoDataset',
        ann_file=str(path),
        data_prefix=_IMG,
        metainfo=dict(classes=('dog', 'cat')))
    # cat ids follow the file's order (cat=1, dog=2), as in MMDetection
    assert dataset.cat_ids == [1, 2]
    # The 80 default COCO classes are not checked: this file has only 3.
    assert len(
        _build('YOLOv5CocoDataset', ann_file=str(path), data_prefix=_IMG)) == 1


def test_missing_ann_file_names_data_root(tmp_path):
    with pytest.raises(
            FileNotFoundError,
            match=r'YOLOv5CocoDataset: ann_file .*nope/a\.json '
            r"does not exist \(data_root '.*nope/' does not exist"
            r' either\)'):
        _build(
            'YOLOv5CocoDataset',
            data_root=str(tmp_path / 'nope') + '/',
            ann_file='a.json')
    with pytest.raises(
            FileNotFoundError,
            match=r"a\.json does not exist \(data_root .* exists"):
        _build('YOLOv5CocoDataset', data_root=str(tmp_path), ann_file='a.json')


def test_lazy_init_checks_on_full_init(tmp_path):
    dataset = _build(
        'YOLOv5CocoDataset', ann_file=str(tmp_path / 'x.json'), lazy_init=True)
    with pytest.raises(FileNotFoundError, match='x.json does not exist'):
        dataset.full_init()


def _voc(tmp_path, xml_text):
    root = tmp_path / 'VOC2007'
    (root / 'Annotations').mkdir(parents=True)
    (root / 'ImageSets' / 'Main').mkdir(parents=True)
    (root / 'ImageSets' / 'Main' / 'test.txt').write_text('000001\n')
    (root / 'Annotations' / '000001.xml').write_text(xml_text)
    return dict(
        data_root=str(tmp_path),
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        test_mode=True)


def test_voc_malformed_xml_names_the_xml_file(tmp_path):
    cfg = _voc(tmp_path, '<annotation>\n  <size><width>5</width>\n'
               '</annotation>\n')
    with pytest.raises(ET.ParseError) as info:
        _build('YOLOv5VOCDataset', **cfg)
    err = info.value
    assert isinstance(err, AnnotationParseError) and isinstance(
        err, SyntaxError)
    assert err.position == (3, 2)
    assert str(err) == (
        f'{tmp_path}/VOC2007/Annotations/000001.xml:3:2: invalid XML: '
        'mismatched tag; '
        'expected a Pascal VOC annotation (<annotation><object>...)')


def test_voc_good_xml_still_parses(tmp_path):
    cfg = _voc(
        tmp_path, '<annotation><size><width>5</width><height>4</height>'
        '</size><object><name>dog</name><bndbox><xmin>1</xmin><ymin>1'
        '</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></object>'
        '</annotation>')
    info = _build('YOLOv5VOCDataset', **cfg).get_data_info(0)
    assert (info['width'], info['height']) == (5, 4)
    assert info['instances'][0]['bbox'] == [0, 0, 2, 2]  # minus one


def test_crowdhuman_bad_line_names_line_number(tmp_path):
    good = json.dumps(dict(ID='a', gtboxes=[]))
    (tmp_path / 'train.odgt').write_text(f'{good}\n{{"ID": "b", gtboxes}}\n')
    # a cached image size, so no image is read
    (tmp_path / 'id_hw_train.json').write_text(json.dumps(dict(a=[4, 4])))
    with pytest.raises(json.JSONDecodeError) as info:
        _build(
            'YOLOv5CrowdHumanDataset',
            data_root=str(tmp_path),
            ann_file='train.odgt',
            data_prefix=dict(img='Images/'))
    err = info.value
    assert isinstance(err, AnnotationDecodeError)
    assert str(err).startswith(
        f'{tmp_path}/train.odgt:2:13: invalid JSON: Expecting property name '
        'enclosed in double quotes; expected one JSON object per line')


def test_odgt_line_number():
    text = '{"a": 1}\n  {"bad"}\n{"c": 3}'
    assert odgt_line_number(text, '{"bad"}') == 2
    assert odgt_line_number(text, 'absent') == 0


def test_collate_shape_mismatch_is_also_a_runtime_error():
    # torch.stack (MMYOLO's collate) raises RuntimeError for this batch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    def item(h):
        sample = DetDataSample()
        sample.gt_instances = InstanceData(
            bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
        return dict(inputs=torch.zeros(3, h, 8), data_samples=sample)

    with pytest.raises(RuntimeError, match='same shape'):
        yolov5_collate([item(8), item(16)])
    with pytest.raises(ValueError, match='use_ms_training'):
        yolov5_collate([item(8), item(16)])
