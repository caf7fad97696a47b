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
    runner = _run(monkeypatch, 'train', [tta_config, '--resume', 'a/b.pth'])
    assert runner.cfg.resume is True and runner.cfg.load_from == 'a/b.pth'


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
