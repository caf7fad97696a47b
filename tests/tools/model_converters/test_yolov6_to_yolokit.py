"""tools/model_converters/yolov6_to_yolokit.py and yolov6_v3_to_yolokit.py
against Meituan's own YOLOv6 (releases 0.2.0 and 0.3.0).

The oracle is the official network, built inside the test from
``<shared>/reference/yolov6-<release>/configs/yolov6<size>.py`` (the two
releases both define a top-level ``yolov6`` package, so each is imported
with the other purged from ``sys.modules``). Checked:

* key layout: for the s, m and l models of each release (n and t differ
  from s only in width) and each head variant 0.3.0 trains, the converted
  keys and shapes are exactly MMYOLO 0.6.0's state_dict of the matching
  config (the spec's module tree, carried by the ``module_trees``
  fixture);
* parity: random weights and BN statistics are converted, loaded with
  ``strict=True`` into yolokit's model of the shipped config, and both run
  in eval mode, RepVGG blocks in their train-time (three-branch) form, on a
  real photo (160 px square resize, RGB in [0, 1]). Compared: the raw
  class and box convs of the head (1e-4 abs asked; float32 with the same
  op order, they came out bit-equal) and the detections after NMS (the
  official ``non_max_suppression`` vs yolokit's ``predict`` with the same
  thresholds; 1e-3 px / abs asked, 2.3e-5 seen);
* MMYOLO 0.6.0's model of the same config loads the converted weights
  with ``strict=True`` and gives yolokit's raw outputs (1e-5);
* the command line of both converters once, on a file shaped like a
  released one (``{'model': Model, 'ema': Model}``, half precision).
"""
import contextlib
import copy
import logging
import os
import os.path as osp
import runpy
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict

from yolokit.registry import MODELS
from yolokit.utils.yolov6_official_checkpoint import (convert,
                                                      load_yolov6_checkpoint)

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
REFERENCE_DIR = osp.join(
    os.environ.get('YOLOKIT_SHARED_DIR',
                   osp.join(osp.dirname(REPO_ROOT), 'shared')), 'reference')
SIZE = 160
SCRIPTS = {'0.2.0': 'yolov6_to_yolokit.py', '0.3.0': 'yolov6_v3_to_yolokit.py'}

# (release, official config, head variant) -> MMYOLO 0.6.0 config. Head
# variants of 0.3.0: 'plain' (released m/l), 'distill_ns' (released n/s),
# 'fuse_ab' (anchor-aided training).
LAYOUT_CASES = {
    ('0.2.0', 'yolov6s', 'plain'): 'yolov6_s_syncbn_fast_8xb32-400e_coco',
    ('0.2.0', 'yolov6m', 'plain'): 'yolov6_m_syncbn_fast_8xb32-300e_coco',
    ('0.2.0', 'yolov6l', 'plain'): 'yolov6_l_syncbn_fast_8xb32-300e_coco',
    ('0.3.0', 'yolov6s', 'distill_ns'):
    'yolov6_v3_s_syncbn_fast_8xb32-300e_coco',
    ('0.3.0', 'yolov6s', 'fuse_ab'): 'yolov6_v3_s_syncbn_fast_8xb32-300e_coco',
    ('0.3.0', 'yolov6m', 'plain'): 'yolov6_v3_m_syncbn_fast_8xb32-300e_coco',
    ('0.3.0', 'yolov6l', 'plain'): 'yolov6_v3_l_syncbn_fast_8xb32-300e_coco',
}
# parity runs on the released form of each head: v2.0 s (plain, distances),
# v3.0 s (self-distillation head) and v3.0 m (DFL distribution)
PARITY_CASES = {
    'v2.0-s': ('0.2.0', 'yolov6s', 'plain'),
    'v3.0-s': ('0.3.0', 'yolov6s', 'distill_ns'),
    'v3.0-m': ('0.3.0', 'yolov6m', 'plain'),
}


def _purge_official_modules() -> None:
    for name in [n for n in sys.modules if n.split('.')[0] == 'yolov6']:
        del sys.modules[name]


@contextlib.contextmanager
def official_release(release: str):
    """Make one release's ``yolov6`` package importable, the other gone."""
    root = osp.join(REFERENCE_DIR, f'yolov6-{release}')
    if not osp.isdir(osp.join(root, 'yolov6')):
        pytest.skip(f'official YOLOv6 {release} reference not found at '
                    f'{root}')
    _purge_official_modules()
    sys.path.insert(0, root)
    restore = _snapshot_process_settings()
    try:
        yield root
    finally:
        sys.path.remove(root)
        _purge_official_modules()
        restore()


def _snapshot_process_settings():
    """What importing the official package changes for the whole process
    (``yolov6.utils.nms`` sets print options, OpenCV's thread count and an
    environment variable; ``yolov6.utils.events`` calls
    ``logging.basicConfig``), returned as a function that restores it."""
    from torch._tensor_str import PRINT_OPTS
    numpy_opts, torch_opts = np.get_printoptions(), dict(vars(PRINT_OPTS))
    cv2_threads = cv2.getNumThreads()
    numexpr = os.environ.get('NUMEXPR_MAX_THREADS')
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level

    def restore() -> None:
        np.set_printoptions(**numpy_opts)
        torch.set_printoptions(**torch_opts)
        cv2.setNumThreads(cv2_threads)
        if numexpr is None:
            os.environ.pop('NUMEXPR_MAX_THREADS', None)
        else:
            os.environ['NUMEXPR_MAX_THREADS'] = numexpr
        root_logger.handlers[:] = handlers
        root_logger.setLevel(level)

    return restore


def build_official(root: str,
                   name: str,
                   head: str,
                   randomise: bool = True) -> torch.nn.Module:
    """The official model of ``configs/<name>.py`` (inside
    :func:`official_release`) in eval mode, with random weights and BN
    statistics unless ``randomise`` is False."""
    from yolov6.models.yolo import build_model
    cfg = ConfigDict(runpy.run_path(osp.join(root, 'configs', f'{name}.py')))
    # only yolov6l's config names its block ('conv_silu'); for the others
    # the official tools/train.py (not in the reference folder) falls back
    # to 'repvgg', which is also what MMYOLO's configs build
    cfg.setdefault('training_mode', 'repvgg')
    variant = {} if head == 'plain' else {head: True}
    model = build_model(cfg, 80, 'cpu', **variant)
    if not randomise:
        return model.eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point() or key.startswith('detect.proj'):
                continue  # proj/proj_conv hold the fixed DFL integral
            if t.dim() == 4:
                # He-scaled convs keep the spread of deep features, so a
                # misplaced early block still moves the head's outputs
                std = (2 / t[0].numel())**0.5
                t.copy_(torch.randn(t.shape, generator=gen) * std)
            elif key.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif key.endswith('bn.weight'):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
    return model.eval()


@pytest.mark.parametrize('case', list(LAYOUT_CASES), ids=lambda c: '-'.join(c))
def test_converted_keys_are_mmyolo_layout(case, module_trees):
    release, name, head = case
    with official_release(release) as root:
        official = build_official(root, name, head, randomise=False)
    converted = convert(official.state_dict(), release)
    _, expected = module_trees[f'yolov6/{LAYOUT_CASES[case]}']
    if release == '0.2.0' and name in ('yolov6m', 'yolov6l'):
        # 0.2.0 trains m/l with DFL (reg_max 16: 4 * 17 box channels);
        # MMYOLO's v2.0 m/l configs keep 4 (the converter says so)
        expected = {
            k: (68, ) + s[1:] if '.reg_preds.' in k else s
            for k, s in expected.items()
        }
    got = {k: tuple(v.shape) for k, v in converted.items()}
    assert sorted(set(got) - set(expected)) == []
    assert sorted(set(expected) - set(got)) == []
    assert got == expected


def test_other_release_is_refused():
    with official_release('0.2.0') as root:
        v2 = build_official(root, 'yolov6n', 'plain', False).state_dict()
    with pytest.raises(ValueError, match='0.2.0 checkpoint.*expected 0.3.0'):
        convert(v2, '0.3.0')


def test_pickled_model_without_official_code(tmp_path):
    src = tmp_path / 'yolov6n.pt'
    with official_release('0.2.0') as root:
        torch.save({'ema': build_official(root, 'yolov6n', 'plain', False)},
                   src)
    # the official package is gone again: unpickling cannot find it
    with pytest.raises(ImportError, match='clone of meituan/YOLOv6'):
        load_yolov6_checkpoint(str(src))


def _photo(images_dir: str) -> torch.Tensor:
    bgr = cv2.imread(osp.join(images_dir, 'dog.jpg'))
    rgb = cv2.resize(bgr, (SIZE, SIZE))[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(
        2, 0, 1)[None].float() / 255


def test_v2_dfl_head_loads_with_the_logged_reg_max():
    # 0.2.0 m/l have a DFL head; the converter tells the user to set
    # model.bbox_head.head_module.reg_max=16 on the shipped config
    with official_release('0.2.0') as root:
        official = build_official(root, 'yolov6m', 'plain', False)
    converted = convert(official.state_dict(), '0.2.0')
    ours, _ = _ours('0.2.0', 'yolov6m', {'reg_max': 16})
    ours.load_state_dict(converted, strict=True)


def _ours(release: str, name: str, head_module: dict = None) -> tuple:
    prefix = 'yolov6_v3' if release == '0.3.0' else 'yolov6'
    epochs = '400e' if release == '0.2.0' and name in ('yolov6n', 'yolov6s',
                                                       'yolov6t') else '300e'
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'yolov6',
                 f'{prefix}_{name[-1]}_syncbn_fast_8xb32-{epochs}_coco.py'))
    if head_module:
        cfg.model.bbox_head.head_module.update(head_module)
    return MODELS.build(cfg.model).eval(), cfg


@pytest.fixture(scope='module', params=list(PARITY_CASES))
def pair(request, images_dir):
    release, name, head = PARITY_CASES[request.param]
    with official_release(release) as root:
        official = build_official(root, name, head)
        from yolov6.utils.nms import non_max_suppression
    ours, cfg = _ours(release, name)
    converted = convert(official.state_dict(), release)
    ours.load_state_dict(converted, strict=True)
    return dict(
        case=request.param,
        release=release,
        official=official,
        nms=non_max_suppression,
        ours=ours,
        converted=converted,
        cfg=cfg,
        image=_photo(images_dir))


@contextlib.contextmanager
def recording(convs):
    """Collect the outputs of ``convs`` in call order while inside."""
    seen = []
    handles = [
        conv.register_forward_hook(lambda m, i, o: seen.append(o))
        for conv in convs
    ]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def test_raw_head_outputs_match(pair):
    official, ours = pair['official'], pair['ours']
    detect, module = official.detect, ours.bbox_head.head_module
    box_branch = getattr(detect, 'reg_preds_lrtb', detect.reg_preds)
    official_convs = list(detect.cls_preds) + list(box_branch)
    our_convs = list(module.cls_preds) + list(module.reg_preds)
    with recording(official_convs) as want, recording(our_convs) as got, \
            torch.no_grad():
        official(pair['image'].clone())
        ours(pair['image'].clone(), mode='tensor')
    assert len(want) == len(got) == 6  # 3 levels x (class, box)
    for index, (g, w) in enumerate(zip(got, want)):
        assert w.abs().max() > 1e-2, 'degenerate reference output'
        torch.testing.assert_close(
            g,
            w,
            atol=1e-4,
            rtol=1e-4,
            msg=lambda m: f'{pair["case"]} conv {index}: {m}')


def test_mmyolo_loads_the_same_weights(pair, mmyolo_reference):
    # the converted file is also an MMYOLO 0.6.0 checkpoint of the config
    theirs = mmyolo_reference.build_model(pair['cfg'].model).eval()
    theirs.load_state_dict(pair['converted'], strict=True)
    with torch.no_grad():
        want = theirs(pair['image'].clone(), mode='tensor')
        got = pair['ours'](pair['image'].clone(), mode='tensor')
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_detections_after_nms_match(pair):
    ours = pair['ours']
    with torch.no_grad():
        decoded, _ = pair['official'](pair['image'].clone())  # (B, P, 85)
    # a threshold only the 50 best class scores pass keeps the list short
    # and far from the 300-box cap (where clamped and unclamped boxes could
    # rank differently); objectness is a constant 1 in YOLOv6's output
    score_thr = decoded[0, :, 5:].flatten().topk(50).values[-1].item()
    test_cfg = copy.deepcopy(pair['cfg'].model.test_cfg)
    test_cfg.score_thr = score_thr
    shipped_cfg, ours.bbox_head.test_cfg = ours.bbox_head.test_cfg, test_cfg
    try:
        want, got = _both_nms(pair, decoded, test_cfg)
    finally:
        ours.bbox_head.test_cfg = shipped_cfg
    assert 0 < len(want) < test_cfg.max_per_img
    assert len(got.bboxes) == len(want)
    # yolokit clamps boxes to the image, the official NMS does not
    want_rows = torch.cat([want[:, :4].clamp(0, SIZE), want[:, 4:6]], 1)
    got_rows = torch.cat(
        [got.bboxes, got.scores[:, None], got.labels[:, None].float()], 1)
    # same set of rows, in either direction (near-equal random scores make
    # the sort order unreliable)
    gap = torch.cdist(want_rows, got_rows, p=float('inf'))
    assert gap.min(1).values.max() < 1e-3, 'an official row is missing'
    assert gap.min(0).values.max() < 1e-3, 'a yolokit row is not official'


def _both_nms(pair, decoded, test_cfg) -> tuple:
    """Official NMS rows (N, 6) and yolokit's ``pred_instances``."""
    meta = dict(
        img_shape=(SIZE, SIZE),
        ori_shape=(SIZE, SIZE),
        scale_factor=(1., 1.),
        pad_param=[0., 0., 0., 0.],
        batch_input_shape=(SIZE, SIZE))
    with torch.no_grad():
        want = pair['nms'](
            decoded,
            conf_thres=test_cfg.score_thr,
            iou_thres=test_cfg.nms.iou_threshold,
            multi_label=test_cfg.multi_label,
            max_det=test_cfg.max_per_img)[0]
        got = pair['ours'].predict(
            pair['image'], [DetDataSample(metainfo=meta)])[0].pred_instances
    return want, got


@pytest.mark.parametrize('release', list(SCRIPTS))
def test_command_line(release, tmp_path):
    # a file like a released one: the raw model and its EMA, pickled whole
    # in half precision; the converter must take the EMA
    head = 'distill_ns' if release == '0.3.0' else 'plain'
    src = tmp_path / 'yolov6n.pt'
    with official_release(release) as root:
        ema = build_official(root, 'yolov6n', head)
        raw = copy.deepcopy(ema)
        with torch.no_grad():
            for p in raw.parameters():
                p.add_(1.0)
        torch.save({
            'model': raw.half(),
            'ema': copy.deepcopy(ema).half()
        }, src)
    dst = tmp_path / 'converted.pth'
    script = osp.join(REPO_ROOT, 'tools', 'model_converters', SCRIPTS[release])
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([root, REPO_ROOT]),
        OMP_NUM_THREADS='1')
    done = subprocess.run(
        [sys.executable, script, '--src',
         str(src), '--dst',
         str(dst)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    state_dict = torch.load(dst, map_location='cpu')['state_dict']
    # EMA weights, cast back from the file's half precision to float32
    half = {
        k: v.half() if v.is_floating_point() else v
        for k, v in ema.state_dict().items()
    }
    want = convert(half, release)
    assert state_dict.keys() == want.keys()
    for key, value in state_dict.items():
        assert value.dtype == want[key].dtype, key
        assert torch.equal(value, want[key]), key
