"""The shared post-processing, step by step, with hand-made inputs."""
import numpy as np
import pytest
import torch

import yolokit.models.utils.postprocess as postprocess
from yolokit.models.utils import (MissingTestCfgKeyError, PostProcessCfg,
                                  postprocess_image)
from yolokit.models.utils.postprocess import (clamp_boxes, drop_small_boxes,
                                              select_candidates,
                                              suppress_duplicates,
                                              to_original_image)

NMS = dict(type='nms', iou_threshold=0.5)


def cfg(**kwargs):
    return PostProcessCfg.from_config(dict(dict(nms=NMS), **kwargs), 3)


def test_from_config_defaults_and_yolox_style():
    plain = PostProcessCfg.from_config({}, 3)
    assert (plain.score_thr, plain.nms_pre, plain.multi_label,
            plain.max_per_img, plain.min_bbox_size) == (-1.0, 100000, False,
                                                        None, -1.0)
    assert plain.objectness_prefilter
    yolox = PostProcessCfg.from_config(
        dict(yolox_style=True, max_per_img=5, multi_label=True), 3)
    assert yolox.max_per_img is None and not yolox.objectness_prefilter
    assert yolox.multi_label
    # multi-label needs more than one class
    assert not PostProcessCfg.from_config(dict(multi_label=True),
                                          1).multi_label


def test_unknown_key_is_reported_once_with_the_closest_name(monkeypatch):
    messages = []
    monkeypatch.setattr(postprocess, 'print_log',
                        lambda msg, **kw: messages.append(msg))
    monkeypatch.setattr(postprocess, '_reported_unknown_keys', set())
    PostProcessCfg.from_config(dict(score_thres=0.1), 3)
    PostProcessCfg.from_config(dict(score_thres=0.1), 3)
    assert len(messages) == 1
    assert "'score_thres'" in messages[0] and "'score_thr'" in messages[0]


def test_select_candidates_single_and_multi_label():
    scores = torch.tensor([[0.1, 0.9, 0.6], [0.7, 0.2, 0.05],
                           [0.3, 0.3, 0.2]])
    boxes = torch.arange(12.).view(3, 4)
    single = select_candidates(scores, boxes, cfg(score_thr=0.5))
    # each prior with its best class, above 0.5, best first
    assert single.scores.tolist() == pytest.approx([0.9, 0.7])
    assert single.labels.tolist() == [1, 0]
    assert single.bboxes.tolist() == [boxes[0].tolist(), boxes[1].tolist()]
    multi = select_candidates(scores, boxes,
                              cfg(score_thr=0.5, multi_label=True, nms_pre=2))
    # (prior, class) pairs above 0.5: 0.9, 0.7, 0.6 -> the top 2
    assert multi.scores.tolist() == pytest.approx([0.9, 0.7])
    assert multi.labels.tolist() == [1, 0]


def test_to_original_image_by_hand():
    # padding left 4, top 2, then a resize by (0.5, 0.25)
    boxes = torch.tensor([[12., -3., 28., 27.]])
    meta = dict(
        scale_factor=(0.5, 0.25),
        pad_param=np.array([2, 2, 4, 4], dtype=np.float32))
    assert to_original_image(boxes, meta).tolist() == [[16., -20., 48., 100.]]
    assert to_original_image(boxes, dict(scale_factor=(0.5, 0.25))).tolist(
    ) == [[24., -12., 56., 108.]]
    with pytest.raises(KeyError, match='scale_factor'):
        to_original_image(boxes, dict(ori_shape=(10, 10)))


def test_drop_small_boxes_is_strict():
    dets = select_candidates(
        torch.tensor([[0.9], [0.8], [0.7]]),
        torch.tensor([[0., 0., 4., 10.], [0., 0., 5., 5.], [0., 0., 6., 9.]]),
        cfg())
    assert len(drop_small_boxes(dets, -1)) == 3
    # wider AND taller than 4: a 4-px side fails, 5 passes
    assert drop_small_boxes(dets, 4).scores.tolist() == pytest.approx(
        [0.8, 0.7])


def test_suppress_duplicates_is_class_aware_and_caps():
    # two boxes of IoU 0.6 of class 0, and the same box as class 1
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 6.],
                          [0., 0., 10., 10.]])
    scores = torch.tensor([[0.9, 0.], [0.8, 0.], [0., 0.7]])
    dets = select_candidates(scores, boxes, cfg())
    kept = suppress_duplicates(dets, cfg())
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7])
    assert kept.labels.tolist() == [0, 1]
    assert len(suppress_duplicates(dets, cfg(max_per_img=1))) == 1
    with pytest.raises(MissingTestCfgKeyError, match='test_cfg.nms'):
        suppress_duplicates(dets, PostProcessCfg())
    # MMYOLO raised AttributeError for the same config
    assert issubclass(MissingTestCfgKeyError, AttributeError)


def test_clamp_boxes():
    boxes = torch.tensor([[-5., 3., 50., 120.]])
    assert clamp_boxes(boxes, (100, 40)).tolist() == [[0., 3., 40., 100.]]


def test_objectness_prefilter_and_product():
    scores = torch.tensor([[0.9, 0.1], [0.9, 0.1]])
    boxes = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    objectness = torch.tensor([0.5, 0.05])
    meta = dict(img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1, 1))
    dets = postprocess_image(scores, boxes, objectness, meta,
                             cfg(score_thr=0.1), rescale=False)
    # prior 1 dropped early (objectness 0.05 <= 0.1); prior 0 scores 0.45
    assert dets.scores.tolist() == pytest.approx([0.45])
    # yolox_style skips the early cut: 0.9 * 0.05 = 0.045 passes 0.04
    dets = postprocess_image(scores, boxes, objectness, meta,
                             cfg(score_thr=0.04, yolox_style=True),
                             rescale=False)
    assert dets.scores.tolist() == pytest.approx([0.45, 0.045])


def test_empty_input_gives_empty_detections():
    dets = postprocess_image(
        torch.zeros(0, 3), torch.zeros(0, 4), None,
        dict(ori_shape=(8, 8), scale_factor=(1, 1)), cfg())
    assert dets.bboxes.shape == (0, 4) and dets.labels.dtype == torch.long
