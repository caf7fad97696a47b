"""demo/image_demo.py run as users run it: in a subprocess, on real photos.

The detector is a YOLOv5-n with random weights saved as an MMEngine
checkpoint; its raw scores are low but non-zero, so with a low --score-thr
there are boxes to draw and export.
"""
import json
import os
import os.path as osp
import runpy
import shutil
import subprocess
import sys

import mmcv
import numpy as np
import pytest
import torch

CONFIG = 'configs/yolov5/yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py'


def _coco_names():
    from mmdet.evaluation import get_classes
    return tuple(get_classes('coco'))


@pytest.fixture(scope='module')
def detector(repo_root, tmp_path_factory):
    """(config path, checkpoint path) of a randomly initialised YOLOv5-n."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path_factory.mktemp('ckpt') / 'random_yolov5_n.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=_coco_names()))), ckpt)
    return osp.join(repo_root, CONFIG), ckpt


def run_demo(repo_root, *args):
    cmd = [
        sys.executable,
        osp.join(repo_root, 'demo', 'image_demo.py'), *map(str, args),
        '--device', 'cpu'
    ]
    return subprocess.run(
        cmd, cwd=repo_root, capture_output=True, text=True, timeout=300)


def _assert_ok(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_folder_input_writes_one_result_per_image(repo_root, images_dir,
                                                  detector, tmp_path):
    config, ckpt = detector
    src = tmp_path / 'photos'
    (src / 'nested').mkdir(parents=True)
    shutil.copy(osp.join(images_dir, 'dog.jpg'), src / 'dog.jpg')
    shutil.copy(osp.join(images_dir, 'demo.jpg'), src / 'nested' / 'd.jpg')
    (src / 'readme.txt').write_text('not an image')
    out_dir = tmp_path / 'out'

    proc = run_demo(repo_root, src, config, ckpt, '--out-dir', out_dir,
                    '--score-thr', 0.01)
    _assert_ok(proc)
    # spec 03 §3.2: a folder's sub-paths are flattened with '_'
    assert sorted(os.listdir(out_dir)) == ['dog.jpg', 'nested_d.jpg']
    assert f'Results have been saved at {out_dir}' in proc.stdout + \
        proc.stderr
    for name, source in (('dog.jpg', src / 'dog.jpg'),
                         ('nested_d.jpg', src / 'nested' / 'd.jpg')):
        drawn = mmcv.imread(str(out_dir / name))
        original = mmcv.imread(str(source))
        assert drawn.shape == original.shape
        # boxes were drawn: many pixels changed by more than JPEG noise
        changed = np.abs(drawn.astype(int) - original.astype(int)) > 40
        assert changed.any(-1).mean() > 0.001


def _threshold_between_scores(scores):
    """A threshold in the widest score gap among ranks 5..40."""
    s = np.sort(scores)[::-1]
    k = 5 + int(np.argmax(s[5:40] - s[6:41]))
    return float((s[k] + s[k + 1]) / 2), k + 1


def test_to_labelme_exports_the_predictions(repo_root, images_dir, detector,
                                            tmp_path):
    from mmdet.apis import inference_detector, init_detector
    config, ckpt = detector
    photo = osp.join(images_dir, 'dog.jpg')

    # Reference: the same model through mmdet's API in this process.
    model = init_detector(config, ckpt, device='cpu')
    pred = inference_detector(model, photo).pred_instances
    scores = pred.scores.numpy()
    thr, num_kept = _threshold_between_scores(scores)
    kept = pred[pred.scores > thr]
    assert len(kept) == num_kept
    names = _coco_names()
    # two classes that occur among the kept boxes, and one that may not
    counts = np.bincount(kept.labels.numpy(), minlength=len(names))
    selected = [names[i] for i in np.argsort(-counts)[:2]]
    expected = sorted(
        (names[int(lbl)], box.tolist())
        for box, lbl in zip(kept.bboxes, kept.labels)
        if names[int(lbl)] in selected)
    assert expected

    out_dir = tmp_path / 'labels'
    proc = run_demo(repo_root, photo, config, ckpt, '--out-dir', out_dir,
                    '--score-thr', thr, '--to-labelme', '--class-name',
                    *selected)
    _assert_ok(proc)
    assert os.listdir(out_dir) == ['dog.json']
    with open(out_dir / 'dog.json', encoding='utf-8') as f:
        content = json.load(f)

    height, width = mmcv.imread(photo).shape[:2]
    assert content['version'] == '5.1.1'
    assert content['imagePath'] == photo
    assert content['imageData'] is None
    assert (content['imageHeight'], content['imageWidth']) == (height, width)
    got = sorted(
        (s['label'], [*s['points'][0], *s['points'][1]])
        for s in content['shapes'])
    assert [g[0] for g in got] == [e[0] for e in expected]
    np.testing.assert_allclose([g[1] for g in got], [e[1] for e in expected],
                               atol=1e-2)
    for shape in content['shapes']:
        assert shape['shape_type'] == 'rectangle'
        assert shape['group_id'] is None and shape['flags'] == {}


def run_demo_in_process(repo_root, monkeypatch, *args):
    """Run the demo's ``main`` here: its failure paths need no subprocess."""
    monkeypatch.setattr(sys, 'argv', [
        'image_demo.py', *map(str, args), '--device', 'cpu'])
    runpy.run_path(
        osp.join(repo_root, 'demo', 'image_demo.py'), run_name='__main__')


def test_unknown_class_name_is_a_clear_error(repo_root, images_dir,
                                             detector, tmp_path, monkeypatch):
    config, ckpt = detector
    with pytest.raises(RuntimeError) as err:
        run_demo_in_process(repo_root, monkeypatch,
                            osp.join(images_dir, 'dog.jpg'), config, ckpt,
                            '--out-dir', tmp_path / 'out', '--class-name',
                            'dog', 'unicorn')
    assert ('Expected args.class_name to be one of the list, but got '
            '"unicorn"') in str(err.value)
    assert "'toothbrush'" in str(err.value)  # the valid names are listed
    assert not (tmp_path / 'out').exists()


def test_to_labelme_and_show_are_exclusive(repo_root, images_dir,
                                           monkeypatch):
    with pytest.raises(RuntimeError,
                       match='`--to-labelme` or `--show` only can choose'):
        run_demo_in_process(repo_root, monkeypatch,
                            osp.join(images_dir, 'dog.jpg'), 'cfg.py',
                            'ckpt.pth', '--to-labelme', '--show')


def test_missing_image_is_a_clear_error(repo_root, detector, tmp_path,
                                        monkeypatch):
    config, ckpt = detector
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        run_demo_in_process(repo_root, monkeypatch, tmp_path / 'missing.jpg',
                            config, ckpt, '--out-dir', tmp_path / 'out')
    assert not (tmp_path / 'out').exists()
