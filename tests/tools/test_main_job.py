"""The main job (``make demo``): tools/misc/run_main_job.py, end to end.

``--quick`` runs every step of the real job (dataset, train, test, demo) on
a smaller dataset for 12 epochs; the tests check what a user is promised:
a checkpoint of a model that learnt, COCO metrics with per-class AP, drawn
demo images and a summary that says where they are.
"""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'misc' / 'run_main_job.py'
CLASSES = ('circle', 'square', 'triangle')


def e2e(test):
    """End-to-end; one xdist worker runs them all, so the job runs once."""
    return pytest.mark.e2e(pytest.mark.xdist_group('main_job')(test))


def _load_script():
    spec = importlib.util.spec_from_file_location('run_main_job', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=timeout)


@pytest.fixture(scope='module')
def quick_job(tmp_path_factory):
    root = tmp_path_factory.mktemp('main_job')
    work_dir, data_root = root / 'work', root / 'data'
    proc = _run('--quick', '--work-dir', work_dir, '--data-root', data_root)
    assert proc.returncode == 0, (
        f'--- stdout (end) ---\n{proc.stdout[-5000:]}\n'
        f'--- stderr (end) ---\n{proc.stderr[-5000:]}')
    return work_dir, data_root, proc


@e2e
def test_quick_job_renders_the_dataset(quick_job):
    _, data_root, _ = quick_job
    module = _load_script()
    for split, num in module.QUICK_SPLITS:
        ann_file = data_root / 'annotations' / f'instances_{split}.json'
        coco = json.loads(ann_file.read_text())
        assert len(coco['images']) == num
        assert [c['name'] for c in coco['categories']] == list(CLASSES)
        for image in coco['images']:
            assert (data_root / split / image['file_name']).is_file()


@e2e
def test_quick_job_trains_a_checkpoint(quick_job):
    work_dir, _, _ = quick_job
    summary = json.loads((work_dir / 'main_job_summary.json').read_text())
    checkpoint = Path(summary['checkpoint'])
    assert checkpoint.parent == work_dir and checkpoint.is_file()
    ckpt = torch.load(checkpoint, map_location='cpu')
    module = _load_script()
    num_train = dict(module.QUICK_SPLITS)['train']
    iters = module.QUICK_EPOCHS * num_train // module.QUICK_BATCH
    assert ckpt['meta']['epoch'] == module.QUICK_EPOCHS
    assert ckpt['meta']['iter'] == iters  # 12 epochs of 128 / 8
    assert tuple(ckpt['meta']['dataset_meta']['classes']) == CLASSES
    # the YOLOv8 head's class predictor has one output per class
    assert ckpt['state_dict'][
        'bbox_head.head_module.cls_preds.0.2.weight'].shape[0] == 3
    assert (work_dir / 'main_job_logs' / 'train.log').is_file()


@e2e
def test_quick_job_evaluates_with_coco_metrics(quick_job):
    work_dir, _, proc = quick_job
    metrics = json.loads((work_dir / 'metrics.json').read_text())
    # The quick run learns: seed 0 measured mAP_50 0.137 (mAP 0.078) on the
    # development machine; an untrained YOLOv8-n scores below 0.005. The
    # threshold leaves a 4x margin for other machines' floating point.
    assert metrics['coco/bbox_mAP_50'] >= 0.03, metrics
    assert {'coco/bbox_mAP_50', 'coco/bbox_mAP_75'} <= set(metrics)
    # classwise=True: one AP per class
    for name in CLASSES:
        assert f'coco/{name}_precision' in metrics
    # the COCO AP/AR table is in the output
    assert 'Average Precision  (AP) @[ IoU=0.50:0.95' in proc.stdout
    assert 'Average Recall' in proc.stdout


@e2e
def test_quick_job_draws_the_held_out_images(quick_job):
    work_dir, data_root, _ = quick_job
    demo_dir = work_dir / 'demo'
    assert sorted(os.listdir(demo_dir)) == ['test_00000.jpg', 'test_00001.jpg']
    for name in os.listdir(demo_dir):
        drawn = cv2.imread(str(demo_dir / name))
        source = cv2.imread(str(data_root / 'test' / name))
        assert drawn is not None and drawn.shape == source.shape


@e2e
def test_quick_job_prints_where_everything_is(quick_job):
    work_dir, _, proc = quick_job
    out = proc.stdout
    summary = out[out.index('Main job finished'):]
    summary_json = json.loads((work_dir / 'main_job_summary.json').read_text())
    for path in (work_dir, summary_json['checkpoint'], work_dir /
                 'metrics.json', work_dir / 'demo'):
        assert str(path) in summary
    mAP = float(re.search(r'bbox mAP\s+: ([0-9.]+)', summary).group(1))
    assert mAP == pytest.approx(summary_json['bbox_mAP'], abs=5e-4)
    # training progress was visible (MMEngine's per-iteration log lines)
    assert re.search(r'Epoch\(train\) +\[1\]\[ ?1/16\]', out)


@e2e
def test_failed_step_names_itself_and_its_log(quick_job, tmp_path):
    _, data_root, _ = quick_job
    broken = tmp_path / 'broken.py'
    base = _load_script().DEFAULT_CONFIG
    broken.write_text(f'_base_ = {str(base)!r}\n'
                      "model = dict(type='NoSuchDetector')\n")
    work_dir = tmp_path / 'work'
    proc = _run('--quick', '--config', broken, '--work-dir', work_dir,
                '--data-root', data_root)
    assert proc.returncode == 1
    log = work_dir / 'main_job_logs' / 'train.log'
    assert 'step "train" failed' in proc.stderr
    assert f'Full log: {log}' in proc.stderr
    assert 'NoSuchDetector' in log.read_text()
    # the dataset of the first run was complete, so it was kept as it was
    assert 'already present, kept' in proc.stdout
    assert 'Main job finished' not in proc.stdout


def test_quick_defaults_do_not_touch_the_full_job():
    module = _load_script()
    full = module.parse_args([])
    quick = module.parse_args(['--quick'])
    assert full.data_root == str(REPO / 'data' / 'shapes')
    assert full.work_dir == str(
        REPO / 'work_dirs' / 'yolov8_n_fast_1xb16-30e_shapes')
    assert quick.data_root != full.data_root
    assert quick.work_dir != full.work_dir


def test_run_step_keeps_the_output_and_sets_passive_openmp(tmp_path,
                                                         monkeypatch, capsys):
    module = _load_script()
    monkeypatch.delenv('OMP_WAIT_POLICY', raising=False)
    log = tmp_path / 'logs' / 'step.log'
    code = 'import os; print("policy", os.environ["OMP_WAIT_POLICY"])'
    module.run_step('probe', [sys.executable, '-c', code], str(log))
    assert 'policy PASSIVE' in log.read_text()
    assert 'policy PASSIVE' in capsys.readouterr().out  # echoed live
    # a policy the user chose is kept
    monkeypatch.setenv('OMP_WAIT_POLICY', 'ACTIVE')
    module.run_step('probe', [sys.executable, '-c', code], str(log))
    assert 'policy ACTIVE' in log.read_text()


def test_run_step_failure_names_step_log_and_last_lines(tmp_path):
    module = _load_script()
    log = tmp_path / 'fail.log'
    code = 'import sys; print("first"); print("the reason"); sys.exit(3)'
    with pytest.raises(module.StepError) as err:
        module.run_step('train', [sys.executable, '-c', code], str(log))
    message = str(err.value)
    assert 'step "train" failed (exit code 3)' in message
    assert f'Full log: {log}' in message
    assert message.rstrip().endswith('the reason')
    assert 'the reason' in log.read_text()
