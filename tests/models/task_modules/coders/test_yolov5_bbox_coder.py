"""YOLOv5BBoxCoder: spec test vector, formulas and round trip."""
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from yolokit.models.task_modules import YOLOv5BBoxCoder
from yolokit.registry import TASK_UTILS


def test_built_from_task_utils():
    assert isinstance(
        TASK_UTILS.build(dict(type='YOLOv5BBoxCoder')), YOLOv5BBoxCoder)


def test_decode_spec_vector():
    # test vector of spec 07 section 5.4
    priors = torch.tensor([[10., 10., 20., 20.], [10., 8., 10., 10.],
                           [15., 8., 20., 3.], [2., 5., 5., 8.]])
    pred = torch.tensor([[0.0000, 0.0000, 1.0000, 1.0000],
                         [0.1409, 0.1409, 2.8591, 2.8591],
                         [0.0000, 0.3161, 4.1945, 0.6839],
                         [1.0000, 5.0000, 9.0000, 5.0000]])
    strides = torch.tensor([2, 4, 8, 8])
    expected = torch.tensor([[4.3111, 4.3111, 25.6889, 25.6889],
                             [10.2813, 5.7033, 10.2813, 12.8594],
                             [7.7949, 11.1710, 27.2051, 2.3369],
                             [1.1984, 8.4730, 13.1955, 20.3129]])
    out = YOLOv5BBoxCoder().decode(priors, pred, strides)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)

    # batched predictions with shared priors give the same rows per image
    batched = YOLOv5BBoxCoder().decode(priors[None],
                                       pred[None].repeat(2, 1, 1), strides)
    assert batched.shape == (2, 4, 4)
    torch.testing.assert_close(batched[0], expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(batched[1], expected, atol=1e-4, rtol=0)


def test_decode_range_from_formulas():
    # spec 02 section 1.3: centre moves by (2 sigma - 1) * stride, size is
    # prior * (2 sigma)^2, so logits 0 keep the prior and saturated logits
    # move the centre by +-1 stride and scale the size by 4 (or 0).
    prior = torch.tensor([[0., 0., 16., 16.]])  # centre (8, 8), 16x16
    coder = YOLOv5BBoxCoder()
    torch.testing.assert_close(
        coder.decode(prior, torch.zeros(1, 4), 8), prior)
    big = coder.decode(prior, torch.full((1, 4), 50.), 8)
    # centre 8 + 8 = 16, size 64
    torch.testing.assert_close(big, torch.tensor([[-16., -16., 48., 48.]]))
    small = coder.decode(prior, torch.full((1, 4), -50.), 8)
    # centre 8 - 8 = 0, size 0
    torch.testing.assert_close(small, torch.zeros(1, 4))


def test_encode_inverts_decode():
    coder = YOLOv5BBoxCoder()
    g = torch.Generator().manual_seed(0)
    priors = torch.tensor([[0., 0., 10., 13.], [16., 16., 32., 46.],
                           [40., 0., 73., 23.]]).double()
    strides = torch.tensor([8., 16., 32.]).double()
    pred = torch.randn(3, 4, generator=g).double()
    boxes = coder.decode(priors, pred, strides)
    encoded = coder.encode(priors=priors, gt_bboxes=boxes, stride=strides)
    torch.testing.assert_close(encoded, pred)
    with pytest.raises(TypeError, match='stride'):
        coder.encode(priors=priors, gt_bboxes=boxes)


def test_use_box_type_and_bad_shapes():
    coder = YOLOv5BBoxCoder(use_box_type=True)
    out = coder.decode(torch.tensor([[0., 0., 4., 4.]]), torch.zeros(1, 4), 4)
    assert isinstance(out, HorizontalBoxes)
    with pytest.raises(ValueError, match='last dimension'):
        YOLOv5BBoxCoder().decode(torch.zeros(1, 4), torch.zeros(1, 5), 4)
