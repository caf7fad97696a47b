"""DistancePointBBoxCoder: (left, top, right, bottom) distances in stride
units (spec 02 section 9 item 20), checked by hand."""
import pytest
import torch

from yolokit.models.task_modules.coders import DistancePointBBoxCoder
from yolokit.registry import TASK_UTILS


def test_registered():
    coder = TASK_UTILS.build(dict(type='DistancePointBBoxCoder'))
    assert isinstance(coder, DistancePointBBoxCoder)


def test_decode_by_hand():
    # point (10, 20), distances (1, 2, 3, 4) at stride 8:
    # x1 = 10 - 8, y1 = 20 - 16, x2 = 10 + 24, y2 = 20 + 32
    # point (0, 0), distances (0.5, 0.5, 0.5, 0.5) at stride 16.
    coder = DistancePointBBoxCoder()
    points = torch.tensor([[10., 20.], [0., 0.]])
    preds = torch.tensor([[[1., 2., 3., 4.], [0.5, 0.5, 0.5, 0.5]]])
    boxes = coder.decode(points, preds, torch.tensor([8., 16.]))
    assert boxes.tolist() == [[[2., 4., 34., 52.], [-8., -8., 8., 8.]]]


def test_decode_unbatched_and_clip():
    coder = DistancePointBBoxCoder()
    boxes = coder.decode(
        torch.tensor([[10., 20.]]), torch.tensor([[1., 2., 3., 4.]]),
        torch.tensor([8.]))
    assert boxes.shape == (1, 1, 4)
    assert boxes.tolist() == [[[2., 4., 34., 52.]]]
    clipped = coder.decode(
        torch.tensor([[10., 20.]]),
        torch.tensor([[1., 2., 3., 4.]]),
        torch.tensor([8.]),
        max_shape=[[40, 30]])
    # (H, W) = (40, 30): x clipped to 30, y to 40
    assert clipped.tolist() == [[[2., 4., 30., 40.]]]
    no_clip = DistancePointBBoxCoder(clip_border=False).decode(
        torch.tensor([[10., 20.]]),
        torch.tensor([[1., 2., 3., 4.]]),
        torch.tensor([8.]),
        max_shape=[[40, 30]])
    assert no_clip.tolist() == [[[2., 4., 34., 52.]]]


def test_encode_by_hand():
    coder = DistancePointBBoxCoder()
    points = torch.tensor([[10., 20.], [50., 50.]])
    boxes = torch.tensor([[2., 4., 34., 52.], [0., 0., 10., 10.]])
    # unclamped: (10-2, 20-4, 34-10, 52-20); the second point is outside
    # its box, so two distances are negative.
    assert coder.encode(
        points, boxes, max_dis=None).tolist() == [[8., 16., 24., 32.],
                                                  [50., 50., -40., -40.]]
    # default DFL range: clamped to [0, 16 - 0.01]
    torch.testing.assert_close(
        coder.encode(points, boxes),
        torch.tensor([[8., 15.99, 15.99, 15.99], [15.99, 15.99, 0., 0.]]))
    torch.testing.assert_close(
        coder.encode(points, boxes, max_dis=15, eps=0.01),
        torch.tensor([[8., 14.99, 14.99, 14.99], [14.99, 14.99, 0., 0.]]))


def test_encode_batched_boxes_with_shared_points():
    coder = DistancePointBBoxCoder()
    points = torch.tensor([[10., 20.], [4., 4.]])
    boxes = torch.tensor([[[2., 4., 34., 52.], [0., 0., 8., 8.]],
                          [[9., 19., 11., 21.], [3., 2., 5., 6.]]])
    dist = coder.encode(points, boxes, max_dis=None)
    assert dist.shape == (2, 2, 4)
    assert dist[1].tolist() == [[1., 1., 1., 1.], [1., 2., 1., 2.]]


def test_round_trip():
    torch.manual_seed(0)
    coder = DistancePointBBoxCoder()
    points = torch.rand(6, 2) * 100
    stride = torch.tensor([8., 8., 16., 16., 32., 32.])
    dist = torch.rand(1, 6, 4) * 10
    boxes = coder.decode(points, dist, stride)
    back = coder.encode(points, boxes[0], max_dis=None) / stride[:, None]
    torch.testing.assert_close(back, dist[0])


def test_shape_errors():
    coder = DistancePointBBoxCoder()
    with pytest.raises(ValueError, match='same number of priors'):
        coder.decode(torch.zeros(3, 2), torch.zeros(1, 4, 4), torch.ones(3))
    with pytest.raises(ValueError, match='points'):
        coder.encode(torch.zeros(3, 3), torch.zeros(3, 4))
    with pytest.raises(ValueError, match='gt_bboxes'):
        coder.encode(torch.zeros(3, 2), torch.zeros(3, 5))
