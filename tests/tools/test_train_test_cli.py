"""How tools/train.py and tools/test.py turn arguments into the config.

The runner is replaced by a recorder, so these run in-process in
milliseconds; tests/tools/test_train_test_e2e.py runs the real thing.
Expected behaviour: spec 04 §2 (``--tta``), §5 (``--out``,
``--json-prefix``), §22 (test.py arguments); spec 03 §7 (``--resume``,
``--amp``).
"""
import importlib.util
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from yolokit.engine import accelerator_available

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / 'configs' / '_base_'


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'yolokit_tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Recorder:
    """Stands in for ``mmengine.runner.Runner``."""
    last = None

    def __init__(self, cfg):
        self.cfg = cfg
        self.test_evaluator = SimpleNamespace(metrics=[])
        self.called = None
        self.hooks = []

    def register_hook(self, hook, priority=None):
        self.hooks.append(hook)

    @classmethod
    def from_cfg(cls, cfg):
        cls.last = cls(cfg)
        return cls.last

    def train(self):
        self.called = 'train'

    def test(self):
        self.called = 'test'


def _run(monkeypatch, tool, argv):
    module = _load_tool(tool)
    monkeypatch.setattr(module, 'Runner', _Recorder)
    monkeypatch.setattr(sys, 'argv', [f'tools/{tool}.py', *map(str, argv)])
    # The tools set LOCAL_RANK when absent; restore it after the test.
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    _Recorder.last = None
    module.main()
    return _Recorder.last


@pytest.fixture(autouse=True)
def _ckpt_in_cwd(tmp_path, monkeypatch):
    """Run in tmp_path, where the checkpoint ``c.pth`` exists: the tools
    check that a local checkpoint exists (the recorder never loads it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'c.pth').write_bytes(b'')


@pytest.fixture
def tta_config(tmp_path):
    path = tmp_path / 'with_tta.py'
    path.write_text(f'''
_base_ = [{str(BASE / 'default_runtime.py')!r},
          {str(BASE / 'det_p5_tta.py')!r}]
model = dict(type='YOLODetector', backbone=dict(type='YOLOv5CSPDarknet'))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
test_dataloader = dict(dataset=dict(
    type='RepeatDataset', times=2,
    dataset=dict(type='YOLOv5CocoDataset', pipeline=[dict(type='X')],
                 batch_shapes_cfg=dict(type='BatchShapePolicy'))))
test_evaluator = dict(type='mmdet.CocoMetric')
''')
    return path


@pytest.fixture
def plain_config(tmp_path):
    path = tmp_path / 'no_tta.py'
    path.write_text(f'''
_base_ = {str(BASE / 'default_runtime.py')!r}
model = dict(type='YOLODetector')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
test_dataloader = dict(dataset=dict(type='YOLOv5CocoDataset', pipeline=[]))
test_evaluator = dict(type='mmdet.CocoMetric')
''')
    return path


# ----------------------------- tools/train.py ------------------------------


def test_train_defaults(monkeypatch, tta_config):
    runner = _run(monkeypatch, 'train', [tta_config])
    assert runner.called == 'train'
    assert Path(runner.cfg.work_dir) == Path('work_dirs/with_tta')
    assert runner.cfg.launcher == 'none'
    assert not runner.cfg.resume
    assert runner.cfg.optim_wrapper.type == 'OptimWrapper'


def test_train_work_dir_and_cfg_options(monkeypatch, tta_config, tmp_path):
    runner = _run(monkeypatch, 'train', [
        tta_config, '--work-dir', tmp_path / 'wd', '--cfg-options',
        'randomness.seed=2023', 'model.data_preprocessor.mean=[1,2,3]'
    ])
    assert runner.cfg.work_dir == str(tmp_path / 'wd')
    assert runner.cfg.randomness.seed == 2023
    assert runner.cfg.model.data_preprocessor.mean == [1, 2, 3]


def test_train_resume_auto_and_path(monkeypatch, tta_config):
    runner = _run(monkeypatch, 'train', [tta_config, '--resume'])
    assert runner.cfg.resume is True and runner.cfg.load_from is None
    runner = _run(monkeypatch, 'train', [tta_config, '--resume', 'c.pth'])
    assert runner.cfg.resume is True and runner.cfg.load_from == 'c.pth'


@pytest.mark.skipif(accelerator_available(), reason='needs a CPU-only host')
def test_train_amp_on_cpu_is_a_clear_error(monkeypatch, tta_config):
    with pytest.raises(SystemExit) as info:
        _run(monkeypatch, 'train', [tta_config, '--amp'])
    msg = str(info.value.code)
    assert '--amp needs a GPU' in msg and 'without --amp' in msg


@pytest.mark.skipif(not accelerator_available(), reason='needs a GPU')
def test_train_amp_switches_wrapper(monkeypatch, tta_config):
    runner = _run(monkeypatch, 'train', [tta_config, '--amp'])
    assert runner.cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert runner.cfg.optim_wrapper.loss_scale == 'dynamic'


def test_local_rank_sets_env(monkeypatch, tta_config):
    _run(monkeypatch, 'train', [tta_config, '--local-rank', '3'])
    assert os.environ['LOCAL_RANK'] == '3'


# ------------------------------ tools/test.py ------------------------------


def test_test_loads_checkpoint(monkeypatch, tta_config):
    runner = _run(monkeypatch, 'test', [tta_config, 'https://x/y.pth'])
    assert runner.called == 'test'
    assert runner.cfg.load_from == 'https://x/y.pth'
    assert Path(runner.cfg.work_dir) == Path('work_dirs/with_tta')
    assert runner.test_evaluator.metrics == []


def test_test_out_appends_dump_metric(monkeypatch, tta_config, tmp_path):
    from mmdet.evaluation import DumpDetResults
    out = tmp_path / 'r.pkl'
    runner = _run(monkeypatch, 'test', [tta_config, 'c.pth', '--out', out])
    (metric, ) = runner.test_evaluator.metrics
    assert isinstance(metric, DumpDetResults)
    assert metric.out_file_path == str(out)


def test_test_out_must_be_pickle(monkeypatch, tta_config, capsys):
    with pytest.raises(SystemExit) as info:
        _run(monkeypatch, 'test', [tta_config, 'c.pth', '--out', 'r.json'])
    assert info.value.code == 2
    assert 'must be a pkl file' in capsys.readouterr().err


def test_test_json_prefix(monkeypatch, tta_config):
    runner = _run(monkeypatch, 'test',
                  [tta_config, 'c.pth', '--json-prefix', 'work_dirs/d/pre'])
    assert runner.cfg.test_evaluator.format_only is True
    assert runner.cfg.test_evaluator.outfile_prefix == 'work_dirs/d/pre'


def test_test_deploy_adds_hook(monkeypatch, tta_config):
    runner = _run(monkeypatch, 'test', [tta_config, 'c.pth', '--deploy'])
    assert dict(type='SwitchToDeployHook') in runner.cfg.custom_hooks


def test_test_show_and_show_dir(monkeypatch, tta_config):
    runner = _run(monkeypatch, 'test', [
        tta_config, 'c.pth', '--show', '--show-dir', 'vis', '--wait-time',
        '0.5'
    ])
    hook = runner.cfg.default_hooks.visualization
    assert hook.draw is True and hook.show is True
    assert hook.wait_time == 0.5 and hook.test_out_dir == 'vis'


def test_test_tta_rewires_model_and_nested_dataset(monkeypatch, tta_config):
    runner = _run(monkeypatch, 'test', [tta_config, 'c.pth', '--tta'])
    cfg = runner.cfg
    assert cfg.model.type == 'mmdet.DetTTAModel'
    assert cfg.model.tta_cfg.nms.iou_threshold == 0.65
    assert cfg.model.tta_cfg.max_per_img == 300
    assert cfg.model.module.type == 'YOLODetector'
    assert cfg.model.module.backbone.type == 'YOLOv5CSPDarknet'
    inner = cfg.test_dataloader.dataset.dataset
    assert inner.batch_shapes_cfg is None
    assert inner.pipeline == cfg.tta_pipeline
    assert cfg.test_dataloader.dataset.type == 'RepeatDataset'


def test_test_tta_without_tta_model_names_the_config(monkeypatch,
                                                     plain_config):
    with pytest.raises(SystemExit) as info:
        _run(monkeypatch, 'test', [plain_config, 'c.pth', '--tta'])
    msg = str(info.value.code)
    assert str(plain_config) in msg
    assert '`tta_model`' in msg and '`tta_pipeline`' in msg
    assert 'det_p5_tta.py' in msg


# --------------------------- tools/misc/print_config.py ---------------------


def test_print_config_saves_expanded_config(monkeypatch, tta_config, tmp_path,
                                            capsys):
    spec = importlib.util.spec_from_file_location(
        'yolokit_tool_print_config',
        REPO / 'tools' / 'misc' / 'print_config.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    save = tmp_path / 'sub' / 'whole.py'
    monkeypatch.setattr(sys, 'argv', [
        'print_config.py',
        str(tta_config), '--save-path',
        str(save), '--cfg-options', 'log_level=DEBUG'
    ])
    module.main()
    printed = capsys.readouterr().out
    # Inherited values are expanded.
    assert "type='mmdet.DetTTAModel'" in printed
    assert "log_level = 'DEBUG'" in printed
    from mmengine.config import Config
    saved = Config.fromfile(str(save))
    assert saved.tta_model.type == 'mmdet.DetTTAModel'
    assert saved.log_level == 'DEBUG'
    monkeypatch.setattr(sys, 'argv', [
        'print_config.py',
        str(tta_config), '--save-path',
        str(tmp_path / 'x.txt')
    ])
    with pytest.raises(SystemExit):
        module.main()


# ------------------------------- bad input ---------------------------------


@pytest.fixture
def syntax_error_config(tmp_path):
    path = tmp_path / 'typo.py'
    path.write_text(f'_base_ = {str(BASE / "default_runtime.py")!r}\n'
                    "model = dict(type='YOLODetector'\n"
                    'optim_wrapper = dict()\n')
    return path


@pytest.mark.parametrize('tool, extra', [('train', []), ('test', ['c.pth'])])
def test_config_syntax_error_names_file_and_line(monkeypatch,
                                                 syntax_error_config, tool,
                                                 extra):
    from yolokit.utils.tool_config import ConfigSyntaxError
    with pytest.raises(ConfigSyntaxError) as info:
        _run(monkeypatch, tool, [syntax_error_config, *extra])
    # Python reports the unclosed "(" opened on line 2.
    assert str(info.value).startswith(f'{syntax_error_config}:2: SyntaxError')
    assert "model = dict(type='YOLODetector'" in str(info.value)


@pytest.mark.parametrize('tool, extra', [('train', []), ('test', ['c.pth'])])
def test_cfg_option_without_equals_is_a_usage_error(monkeypatch, tta_config,
                                                    capsys, tool, extra):
    with pytest.raises(SystemExit) as info:
        _run(monkeypatch, tool,
             [tta_config, *extra, '--cfg-options', 'train_cfg.max_epochs'])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "'train_cfg.max_epochs' is not a key=value pair" in err
    assert 'not enough values to unpack' not in err


def test_missing_config(monkeypatch, tmp_path):
    with pytest.raises(
            FileNotFoundError, match=r'Config file .*nope\.py does not exist'):
        _run(monkeypatch, 'train', [tmp_path / 'nope.py'])


def test_swapped_config_and_checkpoint(monkeypatch, tta_config):
    with pytest.raises(OSError, match='the config comes first'):
        _run(monkeypatch, 'test', ['c.pth', tta_config])


def test_work_dir_that_is_a_file(monkeypatch, tta_config, tmp_path):
    (tmp_path / 'wd').write_text('')
    with pytest.raises(FileExistsError, match='wd is an existing file'):
        _run(monkeypatch, 'train', [tta_config, '--work-dir', 'wd'])
    assert _Recorder.last is None  # nothing was built


def test_test_missing_checkpoint(monkeypatch, tta_config):
    with pytest.raises(
            FileNotFoundError,
            match=r'Checkpoint epoch_3\.pth does not exist'):
        _run(monkeypatch, 'test', [tta_config, 'epoch_3.pth'])
    assert _Recorder.last is None


def test_train_missing_resume_or_load_from(monkeypatch, tta_config):
    with pytest.raises(
            FileNotFoundError,
            match=r'--resume checkpoint x\.pth does not exist'):
        _run(monkeypatch, 'train', [tta_config, '--resume', 'x.pth'])
    with pytest.raises(
            FileNotFoundError,
            match=r'load_from checkpoint y\.pth does not exist'):
        _run(monkeypatch, 'train',
             [tta_config, '--cfg-options', 'load_from=y.pth'])
    # A URL is left to MMEngine's loader.
    runner = _run(monkeypatch, 'train',
                  [tta_config, '--cfg-options', 'load_from=https://x/y.pth'])
    assert runner.cfg.load_from == 'https://x/y.pth'


def test_test_registers_the_checkpoint_fit_check(monkeypatch, tta_config):
    from yolokit.utils.checkpoint_fit import CheckpointFitHook
    runner = _run(monkeypatch, 'test', [tta_config, 'c.pth'])
    (hook, ) = runner.hooks
    assert isinstance(hook, CheckpointFitHook)
    assert (hook.checkpoint_name, hook.config_name) == ('c.pth',
                                                        str(tta_config))


def _print_config(monkeypatch, *argv):
    spec = importlib.util.spec_from_file_location(
        'yolokit_tool_print_config',
        REPO / 'tools' / 'misc' / 'print_config.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, 'argv', ['print_config.py', *map(str, argv)])
    module.main()


def test_print_config_bad_input(monkeypatch, syntax_error_config, tta_config,
                                tmp_path, capsys):
    from yolokit.utils.tool_config import ConfigSyntaxError
    with pytest.raises(ConfigSyntaxError, match=r'typo\.py:2: SyntaxError'):
        _print_config(monkeypatch, syntax_error_config)
    with pytest.raises(SystemExit) as info:
        _print_config(monkeypatch, tta_config, '--cfg-options', 'log_level')
    assert info.value.code == 2
    assert "'log_level' is not a key=value pair" in capsys.readouterr().err
    (tmp_path / 'out.py').mkdir()
    with pytest.raises(SystemExit):
        _print_config(monkeypatch, tta_config, '--save-path', 'out.py')
    assert 'out.py is a directory' in capsys.readouterr().err


# ------------------- real runs: checkpoint misfit, refusal ------------------

_SHAPES_CONFIG = '''
_base_ = {base!r}
data_root = {data_root!r}
train_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
custom_hooks = []
'''


@pytest.fixture(scope='module')
def shapes_run(tmp_path_factory):
    """A YOLOv5-n config on a 2+2 image "shapes" dataset, and checkpoints
    of its own model, of a YOLOv8-n and of a refused type."""
    import argparse

    import torch
    from mmengine.config import Config

    from yolokit.registry import MODELS
    root = tmp_path_factory.mktemp('shapes_run')
    spec = importlib.util.spec_from_file_location(
        'make_shapes_dataset',
        REPO / 'tools' / 'misc' / 'make_shapes_dataset.py')
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    maker.make_shapes_dataset(
        str(root / 'shapes'),
        splits=(('train', 2), ('val', 2)),
        img_size=(64, 64))
    config = root / 'yolov5_n_shapes.py'
    config.write_text(
        _SHAPES_CONFIG.format(
            base=str(REPO / 'configs' / 'yolov5' /
                     'yolov5_n-v61_fast_1xb16-60e_shapes.py'),
            data_root=str(root / 'shapes') + '/'))
    torch.manual_seed(0)
    own = MODELS.build(Config.fromfile(str(config)).model)
    v8 = MODELS.build(
        Config.fromfile(
            str(REPO / 'configs' / 'yolov8' /
                'yolov8_n_syncbn_fast_8xb16-500e_coco.py')).model)
    paths = dict(config=config, root=root)
    for name, obj in (('own', dict(state_dict=own.state_dict())),
                      ('yolov8', dict(state_dict=v8.state_dict())),
                      ('refused',
                       dict(
                           state_dict=own.state_dict(),
                           args=argparse.Namespace(lr=1)))):
        paths[name] = root / f'{name}.pth'
        torch.save(obj, paths[name])
    return paths


def _tool_process(name, *args, cwd):
    import subprocess
    return subprocess.run(
        [sys.executable,
         str(REPO / 'tools' / f'{name}.py'), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600)


def test_test_with_a_checkpoint_of_another_architecture(shapes_run):
    proc = _tool_process(
        'test',
        shapes_run['config'],
        shapes_run['yolov8'],
        '--work-dir',
        shapes_run['root'] / 'wd_v8',
        '--out',
        shapes_run['root'] / 'v8.pkl',
        cwd=shapes_run['root'])
    assert proc.returncode != 0
    err = proc.stderr
    assert 'CheckpointMismatchError' in err
    assert (f'Checkpoint {shapes_run["yolov8"]} does not fit the model of '
            f'config {shapes_run["config"]}') in err
    assert 'are missing from the checkpoint (e.g. backbone.' in err
    assert 'have another shape in the checkpoint' in err
    # nothing evaluated, no predictions written
    assert not (shapes_run['root'] / 'v8.pkl').exists()


def test_test_with_its_own_checkpoint_runs(shapes_run):
    proc = _tool_process(
        'test',
        shapes_run['config'],
        shapes_run['own'],
        '--work-dir',
        shapes_run['root'] / 'wd_own',
        cwd=shapes_run['root'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr


def test_resume_from_a_refused_checkpoint(shapes_run):
    proc = _tool_process(
        'train',
        shapes_run['config'],
        '--resume',
        shapes_run['refused'],
        '--work-dir',
        shapes_run['root'] / 'wd_resume',
        cwd=shapes_run['root'])
    assert proc.returncode != 0
    err = proc.stderr
    assert 'CheckpointRefusedError' in err
    assert f'Checkpoint {shapes_run["refused"]}: safe loading' in err
    assert '`argparse.Namespace`' in err
    assert 'add_safe_globals([argparse.Namespace])' in err
    assert 'weights_only=False' not in err


@pytest.mark.parametrize('script, args, bad', [
    ('dist_train.sh', ['cfg.py', 'two'], 'two'),
    ('dist_train.sh', ['cfg.py', '0'], '0'),
    ('dist_test.sh', ['cfg.py', 'c.pth', '--tta'], '--tta'),
])
def test_dist_scripts_reject_a_bad_process_count(script, args, bad):
    import subprocess
    proc = subprocess.run(['bash', str(REPO / 'tools' / script), *args],
                          capture_output=True,
                          text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert (f'NUM_PROCESSES must be a positive integer, got {bad!r}'
            in proc.stderr)
    assert 'usage:' in proc.stderr
