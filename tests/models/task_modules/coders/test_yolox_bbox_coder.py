"""YOLOXBBoxCoder: decode golden values, batching, box type, encode.

References: spec 07 §5.3 (``xy = pred_xy * stride + prior``, ``wh =
exp(pred_wh) * stride``, xyxy output with a leading batch dimension,
upstream test vector) and §6 item 25.
"""
import math

import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from yolokit.models.task_modules.coders import YOLOXBBoxCoder
from yolokit.registry import TASK_UTILS


def test_registered():
    assert isinstance(
        TASK_UTILS.build(dict(type='YOLOXBBoxCoder')), YOLOXBBoxCoder)


def test_hand_computed_values():
    """Three priors, worked out by hand:

    * prior (10, 10), stride 8, pred (0, 0, 0, 0): centre (10, 10), size
      8 x 8 -> [6, 6, 14, 14];
    * prior (16, 0), stride 16, pred (0.5, -0.25, ln 2, ln 0.5): centre
      (24, -4), size 32 x 8 -> [8, -8, 40, 0];
    * prior (32, 64), stride 32, pred (1, 2, ln 3, 0): centre (64, 128),
      size 96 x 32 -> [16, 112, 112, 144].
    """
    coder = YOLOXBBoxCoder()
    priors = torch.tensor([[10., 10.], [16., 0.], [32., 64.]])
    preds = torch.tensor([[0., 0., 0., 0.],
                          [0.5, -0.25, math.log(2),
                           math.log(0.5)], [1., 2., math.log(3), 0.]])
    stride = torch.tensor([8., 16., 32.])
    out = coder.decode(priors, preds, stride)
    assert out.shape == (1, 3, 4)
    expected = torch.tensor([[6., 6., 14., 14.], [8., -8., 40., 0.],
                             [16., 112., 112., 144.]])
    assert torch.allclose(out[0], expected, atol=1e-4)


def test_upstream_vector():
    coder = YOLOXBBoxCoder()
    priors = torch.tensor([[10., 10.], [8., 8.], [15., 8.], [2., 5.]])
    preds = torch.tensor([[0., 0., 1., 1.], [0.0409, 0.1409, 0.8591, 0.8591],
                          [0., 0.3161, 0.1945, 0.6839], [1., 5., 0.2, 0.6]])
    stride = torch.tensor([2., 4., 6., 6.])
    expected = torch.tensor([[7.2817, 7.2817, 12.7183, 12.7183],
                             [3.4415, 3.8415, 12.8857, 13.2857],
                             [11.3559, 3.9518, 18.6441, 15.8414],
                             [4.3358, 29.5336, 11.6642, 40.4664]])
    out = coder.decode(priors, preds, stride)
    assert torch.allclose(out[0], expected, atol=1e-4)
    # batched predictions (priors with a batch dim of 1, as the head passes
    # them) give the same result per image
    batched = coder.decode(priors[None], preds[None].repeat(3, 1, 1), stride)
    assert batched.shape == (3, 4, 4)
    assert torch.allclose(batched, expected[None].expand(3, -1, -1), atol=1e-4)


def test_priors_with_stride_columns_and_int_stride():
    coder = YOLOXBBoxCoder()
    priors = torch.tensor([[0., 0., 8., 8.], [8., 0., 8., 8.]])
    preds = torch.zeros(2, 4)
    out = coder.decode(priors, preds, 8)
    assert out.tolist() == [[[-4, -4, 4, 4], [4, -4, 12, 4]]]


def test_box_type_and_encode():
    coder = YOLOXBBoxCoder(use_box_type=True)
    out = coder.decode(
        torch.zeros(1, 2), torch.zeros(1, 4), torch.tensor([4.]))
    assert isinstance(out, HorizontalBoxes)
    assert out.tensor.tolist() == [[[-2, -2, 2, 2]]]
    assert coder.encode() is None


def test_wrong_shape():
    with pytest.raises(ValueError, match='4 values'):
        YOLOXBBoxCoder().decode(torch.zeros(2, 2), torch.zeros(2, 3), 8)
