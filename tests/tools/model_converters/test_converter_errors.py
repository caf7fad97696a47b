"""The checkpoint converters on wrong input: a clear error, nothing written.

Every converter in tools/model_converters is run through its ``main`` with
``--src``/``--dst`` as a user would pass them.
"""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from yolokit.utils.checkpoint_safety import UnreadableCheckpointError

TOOLS = Path(__file__).resolve().parents[3] / 'tools' / 'model_converters'

# converter -> (what its --src must be, a key of such a checkpoint)
CONVERTERS = {
    'yolov5_to_yolokit':
    ('an official YOLOv5 v6.x/v7.0 checkpoint', 'model.0.conv.weight'),
    'yolov8_to_yolokit':
    ('an Ultralytics YOLOv8 detection checkpoint', 'model.0.conv.weight'),
    'yolov5u_to_yolokit':
    ('an Ultralytics YOLOv5u detection checkpoint', 'model.0.conv.weight'),
    'yolox_to_yolokit': ('an official YOLOX checkpoint',
                         'backbone.backbone.stem.conv.conv.weight'),
    'rtmdet_to_yolokit':
    ('an MMDetection RTMDet checkpoint', 'neck.out_convs.0.conv.weight'),
    'yolov6_to_yolokit': ('an official YOLOv6 0.2.0 checkpoint',
                          'neck.Rep_p4.conv1.rbr_dense.conv.weight'),
    'yolov6_v3_to_yolokit': ('an official YOLOv6 0.3.0 checkpoint',
                             'neck.Rep_p4.conv1.rbr_dense.conv.weight'),
}


def _run(monkeypatch, name, src, dst):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(
        sys, 'argv',
        [name, '--src', str(src), '--dst',
         str(dst)])
    module.main()


@pytest.fixture(params=sorted(CONVERTERS))
def converter(request):
    return request.param


def test_missing_src(monkeypatch, tmp_path, converter):
    with pytest.raises(
            FileNotFoundError, match=r'--src .*yolo\.pt does not exist'):
        _run(monkeypatch, converter, tmp_path / 'yolo.pt', tmp_path / 'o.pth')
    assert not (tmp_path / 'o.pth').exists()


def test_src_that_is_not_a_checkpoint(monkeypatch, tmp_path, converter):
    src = tmp_path / 'notes.pt'
    src.write_text('these are not weights\n')
    with pytest.raises(
            UnreadableCheckpointError,
            match=f'Checkpoint {src} is not a file torch.load'):
        _run(monkeypatch, converter, src, tmp_path / 'o.pth')
    assert not (tmp_path / 'o.pth').exists()


def test_src_already_converted(monkeypatch, tmp_path, converter):
    src = tmp_path / 'yolokit.pth'
    torch.save(
        dict(
            state_dict={
                'backbone.stem.conv.weight': torch.zeros(1),
                'bbox_head.head_module.convs_pred.0.weight': torch.zeros(1)
            }), src)
    with pytest.raises(
            ValueError, match=f'{src} is already a yolokit/MMYOLO '
            'checkpoint'):
        _run(monkeypatch, converter, src, tmp_path / 'o.pth')
    assert not (tmp_path / 'o.pth').exists()


# Pairs of different kinds; the official YOLOv5 and YOLOv8 layouts both
# start with model.0.conv.weight, so those two are told apart further on.
_OTHER_KINDS = [(c, o) for c in sorted(CONVERTERS) for o in sorted(CONVERTERS)
                if CONVERTERS[c][1] != CONVERTERS[o][1]]


@pytest.mark.parametrize('converter, other', _OTHER_KINDS)
def test_src_of_another_kind_names_file_and_expected_kind(
        monkeypatch, tmp_path, converter, other):
    expected, _ = CONVERTERS[converter]
    src = tmp_path / 'other.pth'
    torch.save(dict(state_dict={CONVERTERS[other][1]: torch.zeros(1)}), src)
    with pytest.raises((ValueError, KeyError)) as info:
        _run(monkeypatch, converter, src, tmp_path / 'o.pth')
    assert str(
        info.value).strip('"\'').startswith(f'{src} is not {expected}: ')
    assert not (tmp_path / 'o.pth').exists()


def test_dst_problems_fail_before_loading(monkeypatch, tmp_path, converter):
    src = tmp_path / 'src.pth'
    torch.save(dict(state_dict={}), src)
    before = src.read_bytes()
    with pytest.raises(ValueError, match='is the --src file'):
        _run(monkeypatch, converter, src, src)
    assert src.read_bytes() == before  # the source is untouched
    with pytest.raises(
            FileNotFoundError,
            match=r'its folder .*no_such_dir does not exist'):
        _run(monkeypatch, converter, src, tmp_path / 'no_such_dir' / 'o.pth')
    with pytest.raises(ValueError, match='is a directory'):
        _run(monkeypatch, converter, src, tmp_path)


def test_pickled_objects_are_a_refusal_not_garbage(monkeypatch, tmp_path):
    # A pickled class is refused by safe loading (the YOLOv5/YOLOv8
    # converters then unpickle with the official classes); YOLOX's
    # converter explains how to re-save it, and does not call it unreadable.
    import argparse
    src = tmp_path / 'objects.pth'
    torch.save(dict(model=argparse.Namespace(a=1)), src)
    with pytest.raises(
            RuntimeError, match='holds pickled Python objects') as e:
        _run(monkeypatch, 'yolox_to_yolokit', src, tmp_path / 'o.pth')
    assert not isinstance(e.value, UnreadableCheckpointError)
