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


def test_missing_checkpoint_fails_before_building(repo_root, images_dir,
                                                  detector, tmp_path,
                                                  monkeypatch):
    config, _ = detector
    with pytest.raises(FileNotFoundError,
                       match=r'Checkpoint .*nope\.pth does not exist'):
        run_demo_in_process(repo_root, monkeypatch,
                            osp.join(images_dir, 'dog.jpg'), config,
                            tmp_path / 'nope.pth', '--out-dir',
                            tmp_path / 'out')
    assert not (tmp_path / 'out').exists()


def test_out_dir_that_is_a_file(repo_root, images_dir, detector, tmp_path,
                                monkeypatch):
    config, ckpt = detector
    (tmp_path / 'out').write_text('')
    with pytest.raises(FileExistsError,
                       match='--out-dir .*out is an existing file'):
        run_demo_in_process(repo_root, monkeypatch,
                            osp.join(images_dir, 'dog.jpg'), config, ckpt,
                            '--out-dir', tmp_path / 'out')


def test_checkpoint_of_another_architecture(repo_root, images_dir, detector,
                                            tmp_path, monkeypatch):
    from mmdet.registry import MODELS
    from mmengine.config import Config

    from yolokit.utils.checkpoint_fit import CheckpointMismatchError
    config, _ = detector
    v8 = MODELS.build(
        Config.fromfile(
            osp.join(repo_root, 'configs', 'yolov8',
                     'yolov8_n_syncbn_fast_8xb16-500e_coco.py')).model)
    other = tmp_path / 'yolov8_n.pth'
    torch.save(dict(state_dict=v8.state_dict()), other)
    with pytest.raises(CheckpointMismatchError,
                       match=f'Checkpoint {other} does not fit the model of '
                       f'config {config}'):
        run_demo_in_process(repo_root, monkeypatch,
                            osp.join(images_dir, 'dog.jpg'), config, other,
                            '--out-dir', tmp_path / 'out')
    assert not (tmp_path / 'out').exists()


def test_config_syntax_error(repo_root, images_dir, detector, tmp_path,
                             monkeypatch):
    from yolokit.utils.tool_config import ConfigSyntaxError
    _, ckpt = detector
    bad = tmp_path / 'bad.py'
    bad.write_text('a = 1\nb = [2,\n')
    with pytest.raises(ConfigSyntaxError, match=r'bad\.py:2: SyntaxError'):
        run_demo_in_process(repo_root, monkeypatch,
                            osp.join(images_dir, 'dog.jpg'), bad, ckpt)


def test_tta_without_tta_model(repo_root, images_dir, detector, tmp_path,
                               monkeypatch):
    config, ckpt = detector
    derived = tmp_path / 'no_tta.py'
    derived.write_text(f'_base_ = {config!r}\ntta_model = None\n')
    with pytest.raises(KeyError) as info:
        run_demo_in_process(repo_root, monkeypatch,
                            osp.join(images_dir, 'dog.jpg'), derived, ckpt,
                            '--tta')
    assert f'{derived} does not define `tta_model`' in str(info.value)


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server serving ``tmp_path / 'www'``; yields (root, url)."""
    import functools
    import http.server
    import threading
    root = tmp_path / 'www'
    root.mkdir()
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_url_input_is_downloaded_and_drawn(repo_root, images_dir, detector,
                                           http_server, tmp_path):
    config, ckpt = detector
    www, base_url = http_server
    shutil.copy(osp.join(images_dir, 'dog.jpg'), www / 'remote dog.jpg')
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    out_dir = tmp_path / 'out'
    cmd = [
        sys.executable,
        osp.join(repo_root, 'demo', 'image_demo.py'),
        f'{base_url}/remote%20dog.jpg', config, ckpt, '--out-dir',
        str(out_dir), '--device', 'cpu', '--score-thr', '0.01'
    ]
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    _assert_ok(proc)
    # the image is downloaded to the working directory under its own name
    downloaded = cwd / 'remote dog.jpg'
    assert downloaded.read_bytes() == (www / 'remote dog.jpg').read_bytes()
    assert os.listdir(out_dir) == ['remote dog.jpg']
    drawn = mmcv.imread(str(out_dir / 'remote dog.jpg'))
    assert drawn.shape == mmcv.imread(str(downloaded)).shape


def _demo_module(repo_root):
    return runpy.run_path(osp.join(repo_root, 'demo', 'image_demo.py'))


@pytest.mark.parametrize('cuda', [True, False])
def test_default_device_follows_cuda_availability(repo_root, monkeypatch,
                                                  cuda):
    module = _demo_module(repo_root)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    monkeypatch.setattr(sys, 'argv', ['image_demo.py', 'a.jpg', 'c.py', 'w'])
    args = module['parse_args']()
    assert args.device == ('cuda:0' if cuda else 'cpu')
    assert args.out_dir == './output' and args.score_thr == 0.3
    assert not args.show and not args.to_labelme and args.class_name is None


def test_show_displays_each_image_and_saves_nothing(repo_root, images_dir,
                                                    detector, tmp_path,
                                                    monkeypatch):
    from mmdet.visualization import DetLocalVisualizer
    config, ckpt = detector
    shown = []

    def fake_show(self, drawn_img=None, win_name='image', wait_time=0.,
                  **kwargs):
        shown.append((win_name, drawn_img.shape, wait_time))

    monkeypatch.setattr(DetLocalVisualizer, 'show', fake_show)
    src = tmp_path / 'photos'
    src.mkdir()
    shutil.copy(osp.join(images_dir, 'dog.jpg'), src / 'dog.jpg')
    shutil.copy(osp.join(images_dir, 'demo.jpg'), src / 'demo.jpg')
    monkeypatch.chdir(tmp_path)
    run_demo_in_process(repo_root, monkeypatch, src, config, ckpt, '--show',
                        '--out-dir', tmp_path / 'out')
    height, width = mmcv.imread(str(src / 'dog.jpg')).shape[:2]
    assert sorted(name for name, _, _ in shown) == ['demo.jpg', 'dog.jpg']
    assert (('dog.jpg', (height, width, 3), 0) in shown)
    assert not (tmp_path / 'out').exists()
    assert not (tmp_path / 'output').exists()


def test_deploy_keeps_the_detections(repo_root, images_dir, detector,
                                     tmp_path, monkeypatch):
    """--deploy folds BatchNorm into the convs: same boxes, same classes."""
    from mmdet.apis import inference_detector, init_detector
    config, ckpt = detector
    photo = osp.join(images_dir, 'dog.jpg')
    model = init_detector(config, ckpt, device='cpu')
    scores = inference_detector(model, photo).pred_instances.scores.numpy()
    thr, num_kept = _threshold_between_scores(scores)

    shapes = {}
    for name, extra in (('plain', []), ('deploy', ['--deploy'])):
        out_dir = tmp_path / name
        run_demo_in_process(repo_root, monkeypatch, photo, config, ckpt,
                            '--out-dir', out_dir, '--score-thr', thr,
                            '--to-labelme', *extra)
        with open(out_dir / 'dog.json', encoding='utf-8') as f:
            shapes[name] = sorted(
                (s['label'], [*s['points'][0], *s['points'][1]])
                for s in json.load(f)['shapes'])
    assert len(shapes['plain']) == num_kept
    assert [s[0] for s in shapes['deploy']] == [s[0] for s in shapes['plain']]
    np.testing.assert_allclose([s[1] for s in shapes['deploy']],
                               [s[1] for s in shapes['plain']],
                               atol=1e-2)
