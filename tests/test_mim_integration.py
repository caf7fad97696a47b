"""``mim`` finds yolokit, its configs and its tools.

openmim is an optional extra; these tests skip when its ``mim`` command is
not installed next to the test interpreter.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import yaml

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIM = osp.join(osp.dirname(sys.executable), 'mim')
SHAPES_CONFIG = 'configs/yolov5/yolov5_n-v61_fast_1xb16-60e_shapes.py'

pytestmark = pytest.mark.skipif(
    not osp.isfile(MIM),
    reason=f'openmim is not installed ({MIM} missing); '
    'install it with `pip install yolokit[mim]`')


def _run_mim(*args, cwd, timeout=600):
    # Run from outside the repository, so that mim has to find yolokit
    # through its installation rather than the current directory.
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    return subprocess.run([MIM, *args], cwd=cwd, env=env, timeout=timeout,
                          capture_output=True, text=True)


def _metafile_config_names(algo: str):
    with open(osp.join(REPO, 'configs', algo, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    return {
        osp.splitext(osp.basename(m['Config']))[0]
        for m in meta['Models']
    }


def test_mim_list_shows_yolokit(tmp_path):
    proc = _run_mim('list', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    yolokit_rows = [r for r in rows if r and r[0] == 'yolokit']
    assert yolokit_rows, proc.stdout
    import yolokit
    assert yolokit_rows[0][1] == yolokit.__version__


def _indexed_algorithms():
    """The ``configs/<algo>`` folders whose metafile model-index.yml
    imports."""
    with open(osp.join(REPO, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    return [path.split('/')[1] for path in imports]


def test_model_index_imports_every_family_metafile():
    """A family metafile that model-index.yml misses is invisible to mim."""
    families = sorted(
        name for name in os.listdir(osp.join(REPO, 'configs'))
        if osp.isfile(osp.join(REPO, 'configs', name, 'metafile.yml')))
    assert families and sorted(_indexed_algorithms()) == families


@pytest.mark.parametrize('algo', _indexed_algorithms())
def test_mim_search_lists_configs(algo, tmp_path):
    proc = _run_mim('search', 'yolokit', '--model', algo, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    found = {
        line.split(':', 1)[1].strip()
        for line in proc.stdout.splitlines()
        if line.startswith('config id:')
    }
    expected = _metafile_config_names(algo)
    assert expected and found == expected
    # every listed config is a real file of the repository
    for name in found:
        matches = [
            root for root, _, files in os.walk(osp.join(REPO, 'configs'))
            if f'{name}.py' in files
        ]
        assert matches, name


@pytest.mark.e2e
def test_mim_train_and_test_run_the_tools(tmp_path):
    data = tmp_path / 'shapes'
    subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools/misc/make_shapes_dataset.py'), '--out-dir',
        str(data), '--num-train', '4', '--num-val', '2', '--num-test', '1'
    ], check=True, capture_output=True)
    root = f'{data}/'
    val_ann = f'{root}annotations/instances_val.json'
    options = [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={val_ann}',
        f'test_evaluator.ann_file={val_ann}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1'
    ]
    work_dir = tmp_path / 'work'
    config = osp.join(REPO, SHAPES_CONFIG)
    proc = _run_mim('train', 'yolokit', config, '--gpus', '0',
                    '--work-dir', str(work_dir), '--cfg-options', *options,
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ckpt = work_dir / 'epoch_1.pth'
    assert ckpt.is_file(), os.listdir(work_dir)

    proc = _run_mim('test', 'yolokit', config, '--checkpoint', str(ckpt),
                    '--gpus', '0', '--work-dir', str(tmp_path / 'test'),
                    '--cfg-options', *options, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
