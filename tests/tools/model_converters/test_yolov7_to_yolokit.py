"""tools/model_converters/yolov7_to_yolokit.py against the official YOLOv7.

The oracle is WongKinYiu's own network, built inside the test from
``/work/shared/reference/yolov7/cfg/{training,deploy}/*.yaml`` with random
weights and BN statistics. Its state_dict is converted, loaded into
yolokit's model of the shipped config (``strict=True``; the released P6
layout without auxiliary convs loads with exactly those keys missing), and
both run on a real photo (square resize, RGB in [0, 1]; 160 px for P5, 128
px for P6). Compared: the raw detect-layer maps (tolerance 1e-4; float32
with the same op order) and, for the P5 models, the detections after NMS
(official ``non_max_suppression`` vs yolokit's ``predict``, same
thresholds; boxes 1e-2 px, scores 1e-2 abs).
"""
import importlib.util
import os.path as osp
import sys
from typing import NamedTuple

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmengine.config import Config

from yolokit.registry import MODELS

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
OFFICIAL = '/work/shared/reference/yolov7'


class Case(NamedTuple):
    yaml: str  # cfg/<folder>/<yaml>.yaml
    config: str  # configs/yolov7/<config>
    size: int  # input side, px
    folder: str = 'training'


CASES = {
    'tiny':
    Case('yolov7-tiny', 'yolov7_tiny_syncbn_fast_8x16b-300e_coco.py', 160),
    'l':
    Case('yolov7', 'yolov7_l_syncbn_fast_8x16b-300e_coco.py', 160),
    'x':
    Case('yolov7x', 'yolov7_x_syncbn_fast_8x16b-300e_coco.py', 160),
    'w6':
    Case('yolov7-w6', 'yolov7_w-p6_syncbn_fast_8x16b-300e_coco.py', 128),
    # the released layout: no auxiliary convs, plain Detect (no implicits)
    'w6-deploy':
    Case('yolov7-w6', 'yolov7_w-p6_syncbn_fast_8x16b-300e_coco.py', 128,
         'deploy'),
}
# Two scores closer than this may come out in either order from the two
# implementations: it is above the raw-output tolerance (1e-4 on logits,
# i.e. at most 2.5e-5 on a sigmoid) by a factor of 4.
SCORE_MARGIN = 1e-4


def _converter():
    path = osp.join(REPO_ROOT, 'tools', 'model_converters',
                    'yolov7_to_yolokit.py')
    spec = importlib.util.spec_from_file_location('yolov7_to_yolokit', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _official_model(case: Case):
    if not osp.isdir(OFFICIAL):
        pytest.skip(f'official YOLOv7 reference not found at {OFFICIAL}')
    sys.path.insert(0, OFFICIAL)
    try:
        from models.common import ImplicitA, ImplicitM
        from models.yolo import Model
        from utils.general import non_max_suppression
        model = Model(
            osp.join(OFFICIAL, 'cfg', case.folder, f'{case.yaml}.yaml'),
            ch=3,
            nc=80)
    finally:
        sys.path.remove(OFFICIAL)
    gen = torch.Generator().manual_seed(0)

    def rand(t, std, mean=0.):
        t.copy_(mean + torch.randn(t.shape, generator=gen) * std)

    # fan-in scaled convs and BN near identity keep the signal alive
    # through ~100 layers (so the outputs vary over the image)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                rand(module.weight, module.weight[0].numel()**-0.5)
                if module.bias is not None:
                    rand(module.bias, 0.1)
            elif isinstance(module, nn.BatchNorm2d):
                rand(module.weight, 0.1, 1.)
                rand(module.bias, 0.1)
                rand(module.running_mean, 0.1)
                module.running_var.copy_(
                    torch.rand(module.running_var.shape, generator=gen) + .5)
            elif isinstance(module, ImplicitA):
                rand(module.implicit, 0.05)
            elif isinstance(module, ImplicitM):
                rand(module.implicit, 0.05, 1.)
    return model.eval(), non_max_suppression


@pytest.fixture(scope='module', params=list(CASES))
def pair(request, images_dir):
    case = CASES[request.param]
    official, nms = _official_model(case)
    state_dict = _converter().convert(official.state_dict())
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'yolov7', case.config))
    # The anchors are no weights: the training yaml of yolov7-tiny keeps
    # YOLOv5's (10,13, ...) while the shipped configs use YOLOv7's
    # (12,16, ...). Decode with the official model's own anchors (px).
    detect = official.model[-1]
    anchors_px = detect.anchors * detect.stride.view(-1, 1, 1)
    cfg.model.bbox_head.prior_generator.base_sizes = [[
        tuple(wh) for wh in level.round().int().tolist()
    ] for level in anchors_px]
    ours = MODELS.build(cfg.model).eval()
    missing, unexpected = ours.load_state_dict(state_dict, strict=False)
    assert not unexpected
    if case.folder == 'deploy':
        # released P6 checkpoints carry no auxiliary (training-only) convs
        assert missing and all('.aux_convs_pred.' in k for k in missing)
    else:
        assert not missing
    bgr = cv2.imread(osp.join(images_dir, 'dog.jpg'))
    rgb = cv2.resize(bgr, (case.size, case.size))[:, :, ::-1]
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(
        2, 0, 1)[None].float() / 255
    yield request.param, official, nms, ours, image, cfg
    del official, ours


def test_raw_head_outputs_match(pair):
    arch, official, _, ours, image, _ = pair
    with torch.no_grad():
        _, official_levels = official(image)
        cls_maps, box_maps, obj_maps = ours(image, mode='tensor')
    for level, want in enumerate(official_levels):
        b, a, h, w, k = want.shape  # (B, 3, H, W, 5 + C)
        got = [
            m[level].view(b, a, -1, h, w).permute(0, 1, 3, 4, 2)
            for m in (box_maps, obj_maps, cls_maps)
        ]
        torch.testing.assert_close(
            torch.cat(got, -1),
            want,
            atol=1e-4,
            rtol=1e-4,
            msg=lambda m: f'yolov7-{arch} level {level}: {m}')


def _threshold_in_a_gap(scores: torch.Tensor, near: int = 50) -> float:
    """A score threshold that keeps about ``near`` candidates, placed in the
    widest gap between consecutive sorted scores of ranks near/2..2*near,
    so that no candidate sits within float noise of it."""
    ranked = scores.flatten().topk(2 * near + 1).values
    gaps = ranked[near // 2 - 1:-1] - ranked[near // 2:]
    k = int(gaps.argmax())
    assert gaps[k] > SCORE_MARGIN, 'no clear gap for the score threshold'
    return ((ranked[near // 2 - 1 + k] + ranked[near // 2 + k]) / 2).item()


def _undecided(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
               iou_thr: float) -> torch.Tensor:
    """(K,) bool: candidates whose fate under NMS depends on float noise.

    Two same-class candidates overlapping above ``iou_thr`` whose scores
    differ by less than SCORE_MARGIN may be ranked either way, so either
    may survive; then so may every candidate connected to them by such
    overlaps (a suppressed box no longer suppresses). With random weights
    this happens: the deeper models give neighbouring cells nearly the
    same scores (yolov7-l: overlapping same-class boxes 2e-7 apart), which
    was why the official and yolokit NMS kept different boxes of yolov7-l.
    The overlap test uses ``iou_thr - 0.01`` so a pair at the threshold
    counts as overlapping.
    """
    from torchvision.ops import box_iou
    overlaps = (box_iou(boxes, boxes) > iou_thr - 0.01) & (
        labels[:, None] == labels[None])
    near_tie = (scores[:, None] - scores[None]).abs() < SCORE_MARGIN
    reach = (overlaps & near_tie).fill_diagonal_(False).any(1)
    while True:
        grown = reach | (overlaps & reach[:, None]).any(0)
        if torch.equal(grown, reach):
            return reach
        reach = grown


def _decided_rows(rows: torch.Tensor, undecided: torch.Tensor,
                  iou_thr: float) -> torch.Tensor:
    """Detections ``(N, 6)`` (box, score, label) that neither are nor
    overlap (same class, ``> iou_thr - 0.01``) an undecided candidate
    ``(U, 6)``."""
    from torchvision.ops import box_iou
    if len(undecided) == 0 or len(rows) == 0:
        return rows
    touches = (box_iou(rows[:, :4], undecided[:, :4]) > iou_thr - 0.01) & (
        rows[:, 5:6] == undecided[None, :, 5])
    return rows[~touches.any(1)]


def _match_rows(got_rows: torch.Tensor, want_rows: torch.Tensor) -> None:
    """Same rows in any order: ties in score between boxes far apart leave
    the sort order open, so pair each wanted row with its nearest."""
    assert len(got_rows) == len(want_rows)
    dist = torch.cdist(want_rows, got_rows, p=1)
    nearest = []  # greedy: clamping can make two official rows alike
    for row in dist:
        row[nearest] = float('inf')
        nearest.append(int(row.argmin()))
    torch.testing.assert_close(
        got_rows[nearest], want_rows, atol=1e-2, rtol=1e-4)


def _check_kept_are_candidates(rows: torch.Tensor,
                               candidates: torch.Tensor) -> None:
    """Every row (box, score, label) is one of the candidates: right
    decoding and scoring, whichever of near-tied boxes NMS kept. (Whether
    kept boxes overlap cannot be checked here: yolokit clamps its boxes
    after NMS, which raises their IoU.)"""
    nearest = torch.cdist(rows, candidates, p=1).argmin(1)
    torch.testing.assert_close(rows, candidates[nearest], atol=1e-2, rtol=1e-4)


def test_detections_after_nms_match(pair):
    arch, official, nms, ours, image, cfg = pair
    size = image.shape[-1]
    with torch.no_grad():
        decoded, _ = official(image)
    conf = decoded[0, :, 4:5] * decoded[0, :, 5:]
    score_thr = _threshold_in_a_gap(conf)
    test_cfg = cfg.model.test_cfg
    iou_thr = test_cfg.nms.iou_threshold
    ours.bbox_head.test_cfg.score_thr = score_thr
    with torch.no_grad():
        want = nms(
            decoded,
            conf_thres=score_thr,
            iou_thres=iou_thr,
            multi_label=test_cfg.multi_label)[0]
        meta = dict(
            img_shape=(size, size),
            ori_shape=(size, size),
            scale_factor=(1., 1.),
            pad_param=[0., 0., 0., 0.],
            batch_input_shape=(size, size))
        got = ours.predict(image, [DetDataSample(metainfo=meta)])[0]
    got = got.pred_instances
    assert 0 < len(want) < 300, 'no official detections, or at the cap'
    got_rows = torch.cat(
        [got.bboxes, got.scores[:, None], got.labels[:, None].float()], 1)
    want_rows = torch.cat([want[:, :4].clamp(0, size), want[:, 4:6]], 1)
    # the candidates (box, score, label) both NMS runs start from
    cand, label = (conf > score_thr).nonzero().T
    xywh = decoded[0, cand, :4]
    cand_rows = torch.cat([(xywh[:, :2] - xywh[:, 2:] / 2).clamp(0, size),
                           (xywh[:, :2] + xywh[:, 2:] / 2).clamp(0, size),
                           conf[cand, label, None], label[:, None].float()], 1)
    is_undecided = _undecided(cand_rows[:, :4], cand_rows[:, 4],
                              cand_rows[:, 5], iou_thr)
    if not is_undecided.any():
        _match_rows(got_rows, want_rows)  # every decision is clear
        return
    undecided = cand_rows[is_undecided]
    # where the outcome is decided both must keep the same boxes
    _match_rows(
        _decided_rows(got_rows, undecided, iou_thr),
        _decided_rows(want_rows, undecided, iou_thr))
    # elsewhere (all of yolov7-l: its random boxes nearly coincide) each
    # kept box must still be a candidate
    _check_kept_are_candidates(got_rows, cand_rows)


def test_unknown_detect_layer_index_is_named():
    # yolov7-d6's detect layer is model.166: not supported (see the
    # converter's docstring), so the known indices are listed instead
    state_dict = {'model.166.anchors': torch.zeros(4, 3, 2)}
    with pytest.raises(ValueError, match=r'found \[166\]'):
        _converter().convert(state_dict)


def test_detect_layer_indices_by_hand():
    # P6 layer counts (see the yaml files): w6 has 2 conv pairs per
    # backbone ELAN (8 layers a stage with its down-sampling conv: 1 + 8)
    # and 4 convs per neck ELAN (8 layers), so SPPCSPC is 2 + 5 * 9 = 47,
    # the 8 output convs start at 47 + 1 + 3 * 12 + 3 * 10 = 114 and the
    # detect layer is 122 (118 without the auxiliary convs); e6 (3 pairs,
    # 6 convs): 2 + 5 * 11 = 57, 57 + 1 + 3 * 14 + 3 * 12 = 136 -> 144/140
    converter = _converter()
    for name, training, released in (('w6', 122, 118), ('e6', 144, 140)):
        _, got_training, got_released = converter.p6_table(
            converter.P6_LAYOUTS[name])
        assert (got_training, got_released) == (training, released), name
