"""BatchATSSAssigner (YOLOv6's warm-up assigner): hand-computed cases of
the ATSS rule, parity with MMYOLO 0.6.0's ``BatchATSSAssigner`` and the
input checks.

The rule (Zhang et al., CVPR 2020, as YOLOv6 runs it): a point prior of
stride s stands for the square box of side 5 s around it; per level the k
priors nearest to a GT centre are its candidates; the GT's threshold is
``mean + std`` (unbiased) of the candidates' IoUs; a candidate is positive
when its IoU is strictly above the threshold and its point strictly inside
the GT. Reference for parity: ``mmyolo_reference.build_task_util``.
"""
import math

import pytest
import torch

from yolokit.models.task_modules.assigners import BatchATSSAssigner
from yolokit.registry import TASK_UTILS

IOU_CALC = dict(type='mmdet.BboxOverlaps2D')


def _priors(points, stride):
    points = torch.tensor(points, dtype=torch.float32)
    return torch.cat([points, torch.full_like(points, float(stride))], 1)


def _one_gt(box, label=1):
    return (torch.tensor([[[float(label)]]]), torch.tensor([[box]]),
            torch.ones(1, 1, 1))


def test_threshold_and_iou_of_prior_boxes_by_hand():
    """One level, stride 8, 3 priors, topk 3, GT [0, 0, 40, 40].

    Prior boxes (side 5 * 8 = 40): p0 (20, 20) -> [0, 0, 40, 40], IoU 1;
    p1 (40, 20) -> [20, 0, 60, 40], overlap 20 * 40 = 800 over the union
    1600 + 1600 - 800 = 2400, IoU 1/3; p2 (100, 20) -> [80, 0, 120, 40],
    IoU 0. All three are candidates. mean = 4/9; deviations 5/9, -1/9,
    -4/9 give the unbiased variance (25 + 1 + 16) / 81 / 2 = 21/81, so the
    threshold is 4/9 + sqrt(21)/9 = 0.9536: only p0 is positive.
    """
    priors = _priors([[20., 20.], [40., 20.], [100., 20.]], 8)
    labels, boxes, real = _one_gt([0., 0., 40., 40.], label=2)
    assigner = BatchATSSAssigner(
        num_classes=3, iou_calculator=IOU_CALC, topk=3)
    result = assigner(None, priors, [3], labels, boxes, real)
    assert 4 / 9 + math.sqrt(21) / 9 == pytest.approx(0.95362, abs=1e-5)
    assert result['fg_mask_pre_prior'].tolist() == [[True, False, False]]
    assert result['assigned_labels'].tolist() == [[2, 3, 3]]
    # without predictions the class targets are one-hot
    assert result['assigned_scores'][0].tolist() == [[0., 0.,
                                                      1.], [0., 0., 0.],
                                                     [0., 0., 0.]]
    assert result['assigned_bboxes'][0, 0].tolist() == [0., 0., 40., 40.]


def test_centre_inside_rule_and_iou_scaled_scores_by_hand():
    """A flat GT [0, 18, 200, 22] (area 800), stride 8, topk 9, 9 priors.

    p0 (100, 20) is inside the GT, p1 (100, 30) is not (30 > 22). Both
    boxes (side 40) cut a 40 x 4 strip out of the GT: IoU = 160 / (1600 +
    800 - 160) = 1/14. The other 7 priors are far away (IoU 0).
    Candidates: all 9; mean = 2/126; the unbiased variance is
    (2 * (7/9)^2 + 7 * (2/9)^2) / 8 * (1/14)^2 = 126/648 / 196, so
    threshold = 0.01587 + 0.03150 = 0.04737 < 1/14 = 0.07143. Both pass the
    IoU test, but only p0 has its point inside: p1 stays negative.
    With a predicted box [0, 18, 100, 22] for p0 (IoU 400 / 800 with the
    GT) its class target is 0.5.
    """
    points = [[100., 20.], [100., 30.]] + [[500., 200. + 50 * i]
                                           for i in range(7)]
    priors = _priors(points, 8)
    labels, boxes, real = _one_gt([0., 18., 200., 22.], label=0)
    threshold = 2 / 126 + math.sqrt(126 / 648) / 14
    assert threshold == pytest.approx(0.04737, abs=1e-5) and threshold < 1 / 14

    pred = torch.zeros(1, 9, 4)
    pred[0, 0] = torch.tensor([0., 18., 100., 22.])
    assigner = BatchATSSAssigner(
        num_classes=2, iou_calculator=IOU_CALC, topk=9)
    result = assigner(pred, priors, [9], labels, boxes, real)
    assert result['fg_mask_pre_prior'][0].tolist() == [True] + [False] * 8
    torch.testing.assert_close(result['assigned_scores'][0, 0],
                               torch.tensor([0.5, 0.]))
    assert result['assigned_scores'][0, 1:].abs().sum() == 0


def test_prior_claimed_by_two_gts_keeps_the_larger_iou_by_hand():
    """GT a [10, 0, 50, 40] and GT b [32, 0, 72, 40] both hold prior p1.

    Stride 8, priors p0 (20, 20), p1 (40, 20), p2 (60, 20) with boxes
    [0, 0, 40, 40], [20, 0, 60, 40], [40, 0, 80, 40], plus 6 far priors
    (IoU 0); topk 9, so all 9 are candidates of both GTs.
    IoUs with a: p0 1200/2000 = 0.6, p1 0.6, p2 400/2800 = 0.1429
    -> threshold 0.1492 + 0.2598 = 0.4090: p0, p1 pass (points inside a).
    IoUs with b: p0 320/2880 = 0.1111, p1 1120/2080 = 0.5385,
    p2 1280/1920 = 0.6667 -> threshold 0.1462 + 0.2632 = 0.4095: p1, p2
    pass (points inside b). p1 is claimed twice and goes to a
    (0.6 > 0.5385).
    """
    points = [[20., 20.], [40., 20.], [60., 20.]] + [[500., 200. + 50 * i]
                                                     for i in range(6)]
    priors = _priors(points, 8)
    labels = torch.tensor([[[0.], [1.]]])
    boxes = torch.tensor([[[10., 0., 50., 40.], [32., 0., 72., 40.]]])
    assigner = BatchATSSAssigner(
        num_classes=2, iou_calculator=IOU_CALC, topk=9)
    result = assigner(None, priors, [9], labels, boxes, torch.ones(1, 2, 1))
    prior_boxes = torch.tensor([[0., 0., 40., 40.], [20., 0., 60., 40.],
                                [40., 0., 80., 40.]])
    torch.testing.assert_close(
        assigner.iou_calculator(boxes[0], prior_boxes),
        torch.tensor([[0.6, 0.6, 400 / 2800],
                      [320 / 2880, 1120 / 2080, 1280 / 1920]]))
    assert result['fg_mask_pre_prior'][0].tolist() == [True] * 3 + [False] * 6
    assert result['assigned_labels'][0, :3].tolist() == [0, 0, 1]
    torch.testing.assert_close(result['assigned_bboxes'][0, 1], boxes[0, 0])


def _random_case(seed, num_imgs=2, num_gt=3, sizes=((12, 12), (6, 6), (3, 3))):
    """Priors of a 96 x 96 input and random GTs; the last GT slot of the
    last image is padding (zeros, flag 0). Every level has >= topk (9)
    priors: MMYOLO's version needs that (ours takes min(k, P_l))."""
    from mmdet.models.task_modules.prior_generators import MlvlPointGenerator
    g = torch.Generator().manual_seed(seed)
    gen = MlvlPointGenerator([8, 16, 32], offset=0.5)
    priors = torch.cat(gen.grid_priors(sizes, device='cpu', with_stride=True))
    xy = torch.rand(num_imgs, num_gt, 2, generator=g) * 60
    wh = torch.rand(num_imgs, num_gt, 2, generator=g) * 30 + 6
    boxes = torch.cat([xy, xy + wh], -1)
    labels = torch.randint(0, 4, (num_imgs, num_gt, 1), generator=g).float()
    flags = torch.ones(num_imgs, num_gt, 1)
    boxes[-1, -1] = 0
    labels[-1, -1] = 0
    flags[-1, -1] = 0
    centres = priors[:, :2].expand(num_imgs, -1, -1)
    pred = torch.cat([centres - 12, centres + 12], -1) + torch.randn(
        num_imgs, len(priors), 4, generator=g) * 3
    return pred, priors, [h * w for h, w in sizes], labels, boxes, flags


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('with_pred', [True, False])
def test_matches_mmyolo_on_random_input(mmyolo_reference, seed, with_pred):
    cfg = dict(
        type='BatchATSSAssigner',
        num_classes=4,
        topk=9,
        iou_calculator=IOU_CALC)
    ours = TASK_UTILS.build(cfg)
    theirs = mmyolo_reference.build_task_util(cfg)
    pred, *rest = _random_case(seed)
    pred = pred if with_pred else None
    got = ours(pred, *rest)
    want = theirs(pred, *rest)
    assert want['fg_mask_pre_prior'].any(), 'no positives: a weak case'
    assert set(got) == set(want)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        torch.testing.assert_close(got[key], want[key], msg=key)


def test_padding_gt_assigns_nothing():
    pred, priors, counts, labels, boxes, flags = _random_case(0)
    # only the padding slot in image 1: nothing may become foreground
    result = BatchATSSAssigner(4, IOU_CALC)(pred[1:], priors, counts,
                                            labels[1:, 2:], boxes[1:, 2:],
                                            flags[1:, 2:])
    assert not result['fg_mask_pre_prior'].any()
    assert (result['assigned_labels'] == 4).all()
    assert result['assigned_scores'].abs().sum() == 0


def test_no_gt_slots_gives_background():
    priors = _priors([[4., 4.], [12., 4.]], 8)
    result = BatchATSSAssigner(2, IOU_CALC)(None, priors, [2],
                                            torch.zeros(3, 0, 1),
                                            torch.zeros(3, 0, 4),
                                            torch.zeros(3, 0, 1))
    assert result['assigned_labels'].shape == (3, 2)
    assert (result['assigned_labels'] == 2).all()
    assert result['assigned_scores'].shape == (3, 2, 2)
    assert result['fg_mask_pre_prior'].dtype == torch.bool
    assert not result['fg_mask_pre_prior'].any()


def test_bad_input_names_the_argument():
    priors = _priors([[4., 4.], [12., 4.]], 8)
    labels, boxes, real = _one_gt([0., 0., 16., 8.])
    assigner = BatchATSSAssigner(2, IOU_CALC)
    with pytest.raises(ValueError, match='topk'):
        BatchATSSAssigner(2, IOU_CALC, topk=0)
    with pytest.raises(ValueError, match='priors'):
        assigner(None, priors[:, :2], [2], labels, boxes, real)
    with pytest.raises(ValueError, match='num_level_priors'):
        assigner(None, priors, [1, 2], labels, boxes, real)
    with pytest.raises(ValueError, match='gt_bboxes'):
        assigner(None, priors, [2], labels, boxes[0], real)
    with pytest.raises(ValueError, match='gt_labels'):
        assigner(None, priors, [2], labels[..., 0], boxes, real)
    with pytest.raises(ValueError, match='pad_bbox_flag'):
        assigner(None, priors, [2], labels, boxes, real[0])
    with pytest.raises(ValueError, match='pred_bboxes'):
        assigner(torch.zeros(1, 3, 4), priors, [2], labels, boxes, real)
