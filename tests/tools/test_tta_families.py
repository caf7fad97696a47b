"""``tools/test.py --tta`` with each anchor-free family's shipped TTA setup.

Every P5 family config inherits ``tta_model`` and ``tta_pipeline``
(``configs/_base_/det_p5_tta.py`` for YOLOv8 and RTMDet,
``configs/yolox/yolox_p5_tta.py`` for YOLOX; spec 04 §2). For each family a
config derived from its small COCO config is pointed at a few generated
"shapes" images, a randomly initialised model of it is saved as a
checkpoint, and ``tools/test.py CONFIG CKPT --tta`` must run the 3 scales x 2
flips views, merge them with ``mmdet.DetTTAModel`` and report COCO metrics.
The untrained model's mAP is meaningless; what is checked is that the whole
path runs and produces per-image predictions in original-image coordinates.

A config whose TTA settings are missing (or set to ``None``, which is how a
derived config drops inherited ones) must stop with a message that says what
to add, not with a traceback from deep inside the runner.
"""
import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 900
IMG_SIZE = 128
NUM_IMAGES = 2

# name, small config, whether its assigner takes num_classes, TTA base file
FAMILIES = [
    ('yolov8', 'yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py', True,
     '_base_/det_p5_tta.py'),
    ('rtmdet', 'rtmdet/rtmdet_tiny_syncbn_fast_8xb32-300e_coco.py', True,
     '_base_/det_p5_tta.py'),
    ('yolox', 'yolox/yolox_tiny_fast_8xb8-300e_coco.py', False,
     'yolox/yolox_p5_tta.py'),
]

_CONFIG = '''
_base_ = {base!r}

data_root = {data_root!r}
class_name = ('circle', 'square', 'triangle')
num_classes = len(class_name)
metainfo = dict(
    classes=class_name,
    palette=[(220, 20, 60), (20, 120, 220), (20, 200, 80)])
load_from = None

model = dict(
    backbone=dict(init_cfg=None),  # no pretrained download
    bbox_head=dict(head_module=dict(num_classes=num_classes)){assigner},
    # An untrained model scores every prior alike: keep its boxes (YOLOX
    # scores cls x objectness = 0.01 x 0.01 from its bias priors, under the
    # default 0.001), but only the top 1000 per view, or NMS over 30000
    # boxes would dominate the run.
    test_cfg=dict(score_thr=0.0, nms_pre=1000))

test_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/')))
val_dataloader = test_dataloader
test_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
val_evaluator = test_evaluator
{extra}
'''


def _family_params():
    params = []
    for name, config, assigner_classes, tta_file in FAMILIES:
        marks = [pytest.mark.e2e]
        missing = [
            p for p in (config, tta_file)
            if not (REPO / 'configs' / p).is_file()
        ]
        if missing:
            marks.append(
                pytest.mark.skip(
                    reason=f'{name}: configs/{missing[0]} is not in this '
                    'checkout'))
        params.append(
            pytest.param(
                name, config, assigner_classes, id=name, marks=marks))
    return params


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    spec = importlib.util.spec_from_file_location(
        'make_shapes_dataset',
        REPO / 'tools' / 'misc' / 'make_shapes_dataset.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = tmp_path_factory.mktemp('tta_shapes') / 'shapes'
    module.make_shapes_dataset(
        str(root),
        splits=(('val', NUM_IMAGES), ),
        img_size=(IMG_SIZE, IMG_SIZE))
    return str(root) + '/'


def _write_config(path, config, data_root, assigner_classes, extra=''):
    assigner = (',\n    train_cfg=dict(assigner=dict('
                'num_classes=num_classes))') if assigner_classes else ''
    path.write_text(
        _CONFIG.format(
            base=str(REPO / 'configs' / config),
            data_root=data_root,
            assigner=assigner,
            extra=extra))
    return path


def _random_checkpoint(config_path, out):
    """Save the randomly initialised model of ``config_path``."""
    from yolokit.registry import MODELS
    cfg = Config.fromfile(str(config_path))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=cfg.class_name))), out)
    return out


def _test_tool(*args, cwd):
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'test.py'), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT)


@pytest.mark.parametrize('name,config,assigner_classes', _family_params())
def test_tta_runs_and_reports_metrics(name, config, assigner_classes,
                                      shapes_root, tmp_path):
    cfg_path = _write_config(tmp_path / f'{name}_tta.py', config, shapes_root,
                             assigner_classes)
    shipped = Config.fromfile(str(cfg_path))
    # The family config brings MMYOLO's TTA settings (spec 04 §2).
    assert shipped.tta_model.type == 'mmdet.DetTTAModel'
    assert shipped.tta_pipeline[-1].type == 'TestTimeAug'
    ckpt = _random_checkpoint(cfg_path, tmp_path / 'random.pth')
    work_dir = tmp_path / 'work'
    out = tmp_path / 'preds.pkl'
    proc = _test_tool(
        cfg_path, ckpt, '--tta', '--work-dir', work_dir, '--out', out,
        cwd=tmp_path)
    assert proc.returncode == 0, (
        f'--tta failed for {name} ({proc.returncode})\n'
        f'--- stdout ---\n{proc.stdout[-4000:]}\n'
        f'--- stderr ---\n{proc.stderr[-4000:]}')

    runs = [p for p in work_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    run_dir = runs[0]
    metrics = json.loads((run_dir / f'{run_dir.name}.json').read_text())
    assert {'coco/bbox_mAP', 'coco/bbox_mAP_50',
            'coco/bbox_mAP_75'} <= set(metrics)
    dumped = Config.fromfile(str(run_dir / 'vis_data' / 'config.py'))
    assert dumped.model.type == 'mmdet.DetTTAModel'
    assert dumped.model.module.type == shipped.model.type
    assert dumped.test_dataloader.dataset.pipeline == shipped.tta_pipeline

    with open(out, 'rb') as f:
        results = pickle.load(f)
    # One merged result per image (not one per augmented view).
    assert sorted(r['img_id'] for r in results) == list(range(NUM_IMAGES))
    for result in results:
        assert tuple(result['ori_shape']) == (IMG_SIZE, IMG_SIZE)
        pred = result['pred_instances']
        bboxes = pred['bboxes']
        assert len(pred['scores']) == len(pred['labels']) == len(bboxes)
        # The merge keeps at most tta_cfg.max_per_img boxes per image.
        assert len(bboxes) <= shipped.tta_model.tta_cfg.max_per_img
        # Boxes of every view were mapped back to the original image (the
        # 960 px view unmapped would reach far beyond it).
        if len(bboxes):
            assert bboxes.min() >= -1 and bboxes.max() <= IMG_SIZE + 1


@pytest.mark.parametrize('how', ['none', 'absent'])
def test_tta_without_tta_model_is_a_clear_error(how, shapes_root, tmp_path):
    """``--tta`` on a family config without TTA settings names the fix."""
    name, config, assigner_classes, _ = FAMILIES[0]
    if how == 'none':
        # How a derived config switches off inherited TTA (e.g. the
        # ionogram example config of spec 02 sets tta_model=None).
        path = _write_config(tmp_path / 'no_tta.py', config, shapes_root,
                             assigner_classes, extra='tta_model = None\n')
    else:
        derived = _write_config(tmp_path / 'derived.py', config, shapes_root,
                                assigner_classes)
        cfg = Config.fromfile(str(derived))
        cfg_dict = cfg.to_dict()
        del cfg_dict['tta_model'], cfg_dict['tta_pipeline']
        path = tmp_path / 'no_tta.py'
        Config(cfg_dict).dump(str(path))
    spec = importlib.util.spec_from_file_location('yolokit_tool_test',
                                                  REPO / 'tools' / 'test.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ['tools/test.py', str(path), 'ckpt.pth', '--tta']
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, 'argv', argv)
        mp.delenv('LOCAL_RANK', raising=False)
        with pytest.raises(SystemExit) as info:
            module.main()
    msg = str(info.value.code)
    assert str(path) in msg
    assert '`tta_model`' in msg
    assert 'det_p5_tta.py' in msg
