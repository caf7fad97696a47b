"""BatchDynamicSoftLabelAssigner (RTMDet).

References:
* spec 02 §3.3 / top requirement 23 (and the MMYOLO doc's code, zh docs
  §1.3.2): cost = BCE(x, y_soft) * |y_soft - sigmoid(x)|^2 summed over
  classes (y_soft = one_hot(label) * IoU) + 3 * -log(IoU + 1e-7) +
  10 ** (distance / stride - 3), over priors inside a GT; dynamic_k =
  max(1, int(sum of the top-13 IoUs)); a prior picked by several GTs keeps
  the GT of lowest cost.
* Hand computations below use ``BCE(0, t) = ln 2`` for a logit of 0 (the
  prediction sigmoid(0) = 0.5), so the class cost of a class with target t is
  ``ln2 * (t - 0.5) ** 2``.
* MMDetection 3.3's per-image ``DynamicSoftLabelAssigner`` as an
  independent implementation of the same algorithm (random batches).
"""
import math

import pytest
import torch
from mmdet.models.task_modules.assigners import DynamicSoftLabelAssigner
from mmengine.structures import InstanceData

from yolokit.models.task_modules.assigners import \
    BatchDynamicSoftLabelAssigner

LN2 = math.log(2)


def _priors(points, stride=8.):
    pts = torch.tensor(points, dtype=torch.float32)
    return torch.cat([pts, torch.full_like(pts, stride)], dim=1)


def _batch(pred_bboxes, gt_bboxes, gt_labels, num_classes, logits=None):
    """One-image batch tensors in the assigner's layout."""
    pred = torch.tensor(pred_bboxes, dtype=torch.float32)[None]
    gts = torch.tensor(gt_bboxes, dtype=torch.float32)[None]
    labels = torch.tensor(gt_labels, dtype=torch.float32)[None, :, None]
    if logits is None:
        scores = torch.zeros(1, pred.shape[1], num_classes)
    else:
        scores = torch.tensor(logits, dtype=torch.float32)[None]
    pad = torch.ones(1, gts.shape[1], 1)
    return pred, scores, labels, gts, pad


def test_signature_defaults():
    assigner = BatchDynamicSoftLabelAssigner(num_classes=80)
    assert assigner.soft_center_radius == 3.0
    assert assigner.topk == 13
    assert assigner.iou_weight == 3.0
    assert assigner.batch_iou is True


def test_cost_components_and_single_pick():
    """1 GT [0, 0, 16, 8] (centre (8, 4)), 3 priors at stride 8.

    prior  point    pred box      IoU  inside  centre 10**(d/8 - 3)
    P0     (4, 4)   [0,0,16,8]    1    yes     d=4  -> 10**-2.5
    P1     (12, 4)  [0,0, 8,8]    0.5  yes     d=4  -> 10**-2.5
    P2     (28, 4)  [0,0,16,8]    1    no      d=20 -> 10**-0.5
    cls (1 class, logit 0): ln2 * (IoU - 0.5)**2 -> ln2/4, 0, ln2/4
    iou: -3 ln(IoU + 1e-7) -> ~0, 3 ln 2, ~0
    dynamic_k = int(1 + 0.5) = 1 -> the cheaper candidate P0.
    """
    assigner = BatchDynamicSoftLabelAssigner(num_classes=1)
    priors = _priors([[4, 4], [12, 4], [28, 4]])
    pred, scores, labels, gts, pad = _batch(
        [[0, 0, 16, 8], [0, 0, 8, 8], [0, 0, 16, 8]], [[0, 0, 16, 8]], [0], 1)
    ious = assigner._pairwise_ious(pred, gts)
    cost = assigner._cost_matrix(scores, priors, labels[..., 0], gts, ious)
    expected = torch.tensor([
        LN2 / 4 - 3 * math.log(1 + 1e-7) + 10**-2.5,
        0. - 3 * math.log(0.5 + 1e-7) + 10**-2.5,
        LN2 / 4 - 3 * math.log(1 + 1e-7) + 10**-0.5,
    ])
    torch.testing.assert_close(cost[0, :, 0], expected, rtol=1e-5, atol=1e-6)

    result = assigner(pred, scores, priors, labels, gts, pad)
    assert result['assigned_labels'].tolist() == [[0, 1, 1]]  # 1 = bg
    torch.testing.assert_close(result['assign_metrics'],
                               torch.tensor([[1., 0., 0.]]))
    torch.testing.assert_close(result['assigned_bboxes'][0, 0],
                               torch.tensor([0., 0., 16., 8.]))
    assert torch.all(result['assigned_bboxes'][0, 1:] == 0)
    assert torch.all(result['assigned_labels_weights'] == 1)
    assert result['assigned_gt_inds'].tolist() == [0]
    assert result['assigned_batch_index'].tolist() == [0]


def test_dynamic_k_takes_the_k_cheapest():
    """GT [0, 0, 32, 16] (centre (16, 8)); priors (4|12|20|28, 4).

    IoUs 1, 0.5, 0.75, 0.25 -> dynamic_k = int(2.5) = 2.
    costs: P0 = ln2/4 + 0 + 10**(sqrt(160)/8 - 3) = 0.2114
           P1 = 0 + 3 ln 2 + 10**(sqrt(32)/8 - 3)   = 2.0845
           P2 = ln2/16 - 3 ln .75 + 10**(sqrt(32)/8 - 3) = 0.9115
           P3 = ln2/16 - 3 ln .25 + 10**(sqrt(160)/8 - 3) = 4.2403
    -> P0 and P2, with their IoUs as soft labels.
    """
    assigner = BatchDynamicSoftLabelAssigner(num_classes=1)
    priors = _priors([[4, 4], [12, 4], [20, 4], [28, 4]])
    batch = _batch([[0, 0, 32, 16], [0, 0, 32, 8], [0, 0, 24, 16],
                    [0, 0, 8, 16]], [[0, 0, 32, 16]], [0], 1)
    pred, scores, labels, gts, pad = batch
    ious = assigner._pairwise_ious(pred, gts)
    cost = assigner._cost_matrix(scores, priors, labels[..., 0], gts, ious)
    far, near = 10**(math.sqrt(160) / 8 - 3), 10**(math.sqrt(32) / 8 - 3)
    expected = torch.tensor([
        LN2 / 4 + far, 3 * LN2 + near, LN2 / 16 - 3 * math.log(0.75) + near,
        LN2 / 16 - 3 * math.log(0.25) + far
    ])
    torch.testing.assert_close(cost[0, :, 0], expected, rtol=1e-5, atol=1e-5)

    result = assigner(pred, scores, priors, labels, gts, pad)
    assert result['assigned_labels'].tolist() == [[0, 1, 0, 1]]
    torch.testing.assert_close(result['assign_metrics'],
                               torch.tensor([[1., 0., 0.75, 0.]]))

    # topk=1 sums only the best IoU: dynamic_k = int(1.0) = 1 -> P0 alone
    result = BatchDynamicSoftLabelAssigner(num_classes=1, topk=1)(
        pred, scores, priors, labels, gts, pad)
    assert result['assigned_labels'].tolist() == [[0, 1, 1, 1]]


@pytest.mark.parametrize('offset, far_wins', [(24, True), (28, False)])
def test_soft_centre_prior_constants(offset, far_wins):
    """GT [0, 0, 64, 64], centre (32, 32). P0 at the centre predicts IoU 0.5,
    P1 ``offset`` px left of it predicts the GT exactly (IoU 1).

    cost(P0) = 0 + 3 ln 2 + 10**-3                 = 2.0804
    cost(P1) = ln2/4 + 0 + 10**(offset / 8 - 3)
             = 1.1733 at 24 px (10**0)   -> P1 wins (dynamic_k = int(1.5) = 1)
             = 3.3356 at 28 px (10**0.5) -> P0 wins
    With beta = 2 or alpha = e the 24 px case would flip, so this pins both.
    """
    assigner = BatchDynamicSoftLabelAssigner(num_classes=1)
    priors = _priors([[32, 32], [32 - offset, 32]])
    pred, scores, labels, gts, pad = _batch(
        [[0, 0, 64, 32], [0, 0, 64, 64]], [[0, 0, 64, 64]], [0], 1)
    result = assigner(pred, scores, priors, labels, gts, pad)
    expected = [[1, 0]] if far_wins else [[0, 1]]
    assert result['assigned_labels'].tolist() == expected


def test_conflicts_keep_the_cheapest_gt_and_cls_cost_sums_classes():
    """GT A [0,0,16,16] (label 0), GT B [8,0,24,16] (label 1); one candidate
    P0 at (12, 8) inside both, predicting [0,0,16,16]: IoU 1 with A and 1/3
    with B (overlap 128 / union 384). Both GTs get dynamic_k = 1 and pick P0.

    cls cost, summed over the 2 classes (logits 0):
      A: label 0 target 1: ln2/4; class 1 target 0: ln2/4   -> ln2/2
      B: label 1 target 1/3: ln2/36; class 0 target 0: ln2/4
    cost(A) = ln2/2 + ~0 + 10**(0.5 - 3)
    cost(B) = ln2/4 + ln2/36 - 3 ln(1/3) + 10**(0.5 - 3)
    -> P0 keeps A (label 0, soft label 1).
    """
    assigner = BatchDynamicSoftLabelAssigner(num_classes=2)
    priors = _priors([[12, 8], [100, 100]])
    pred, scores, labels, gts, pad = _batch(
        [[0, 0, 16, 16], [90, 90, 110, 110]], [[0, 0, 16, 16],
                                               [8, 0, 24, 16]], [0, 1], 2)
    ious = assigner._pairwise_ious(pred, gts)
    cost = assigner._cost_matrix(scores, priors, labels[..., 0], gts, ious)
    centre = 10**-2.5
    expected_a = LN2 / 2 - 3 * math.log(1 + 1e-7) + centre
    expected_b = LN2 / 4 + LN2 / 36 - 3 * math.log(1 / 3 + 1e-7) + centre
    torch.testing.assert_close(
        cost[0, 0], torch.tensor([expected_a, expected_b]), rtol=1e-5,
        atol=1e-6)

    result = assigner(pred, scores, priors, labels, gts, pad)
    assert result['assigned_labels'].tolist() == [[0, 2]]
    assert result['assigned_gt_inds'].tolist() == [0]
    torch.testing.assert_close(result['assign_metrics'],
                               torch.tensor([[1., 0.]]))


def test_gt_without_inner_prior_assigns_nothing():
    # No prior point lies inside the GT, so there is no candidate at all.
    assigner = BatchDynamicSoftLabelAssigner(num_classes=1)
    priors = _priors([[4, 4], [12, 4]])
    pred, scores, labels, gts, pad = _batch(
        [[0, 0, 4, 4], [1, 1, 3, 3]], [[1, 1, 3, 3]], [0], 1)
    result = assigner(pred, scores, priors, labels, gts, pad)
    assert result['assigned_labels'].tolist() == [[1, 1]]
    assert result['assign_metrics'].sum() == 0


def test_points_on_the_border_are_outside():
    # P0 (8, 4) lies on the right border of [0, 0, 8, 8]: not a candidate.
    assigner = BatchDynamicSoftLabelAssigner(num_classes=1)
    priors = _priors([[8, 4], [4, 4]])
    pred, scores, labels, gts, pad = _batch(
        [[0, 0, 8, 8], [0, 0, 4, 8]], [[0, 0, 8, 8]], [0], 1)
    result = assigner(pred, scores, priors, labels, gts, pad)
    assert result['assigned_labels'].tolist() == [[1, 0]]


def test_padding_and_empty_inputs():
    assigner = BatchDynamicSoftLabelAssigner(num_classes=3)
    priors = _priors([[4, 4], [12, 4], [20, 4]])
    pred = torch.tensor([[[0., 0., 8., 8.], [8., 0., 16., 8.],
                          [16., 0., 24., 8.]]]).repeat(2, 1, 1)
    scores = torch.randn(2, 3, 3)
    # image 0: one GT; image 1: only padding (zeros)
    gts = torch.tensor([[[0., 0., 16., 8.]], [[0., 0., 0., 0.]]])
    labels = torch.tensor([[[2.]], [[0.]]])
    pad = torch.tensor([[[1.]], [[0.]]])
    result = assigner(pred, scores, priors, labels, gts, pad)
    assert result['assigned_labels'].shape == (2, 3)
    assert result['assigned_labels'].dtype == torch.long
    assert result['assigned_bboxes'].shape == (2, 3, 4)
    assert result['assigned_labels'][1].tolist() == [3, 3, 3]
    assert (result['assigned_labels'][0] == 2).sum() >= 1
    # an extra padded GT column changes nothing
    gts_padded = torch.cat([gts, torch.zeros(2, 1, 4)], dim=1)
    labels_padded = torch.cat([labels, torch.zeros(2, 1, 1)], dim=1)
    pad_padded = torch.cat([pad, torch.zeros(2, 1, 1)], dim=1)
    padded = assigner(pred, scores, priors, labels_padded, gts_padded,
                      pad_padded)
    for key in ('assigned_labels', 'assign_metrics', 'assigned_bboxes'):
        torch.testing.assert_close(padded[key], result[key])

    # no GT at all in the batch
    empty = assigner(pred, scores, priors, torch.zeros(2, 0, 1),
                     torch.zeros(2, 0, 4), torch.zeros(2, 0, 1))
    assert torch.all(empty['assigned_labels'] == 3)
    assert torch.all(empty['assign_metrics'] == 0)
    assert torch.all(empty['assigned_labels_weights'] == 1)


def test_bad_shapes_are_rejected():
    assigner = BatchDynamicSoftLabelAssigner(num_classes=2)
    priors = _priors([[4, 4]])
    pred, scores, labels, gts, pad = _batch([[0, 0, 8, 8]], [[0, 0, 8, 8]],
                                            [0], 2)
    with pytest.raises(ValueError, match='pred_scores'):
        assigner(pred, scores[:, :0], priors, labels, gts, pad)
    with pytest.raises(ValueError, match='priors'):
        assigner(pred, scores, priors[:, :2], labels, gts, pad)
    with pytest.raises(ValueError, match='gt_bboxes'):
        assigner(pred, scores, priors, labels, gts[..., :2], pad)


def test_class_count_of_scores_may_differ_from_num_classes():
    """As in MMYOLO, the scores' class dimension decides the class cost and
    ``num_classes`` only the background label: an assigner for 80 classes
    fed 2-class scores matches exactly like a 2-class assigner."""
    priors = _priors([[4, 4], [12, 4], [20, 4]])
    pred, scores, labels, gts, pad = _batch(
        [[0, 0, 16, 8], [0, 0, 8, 8], [8, 0, 24, 8]], [[0, 0, 24, 8]], [1],
        2, logits=[[0.5, -1.], [2., 0.], [-1., 1.5]])
    wide = BatchDynamicSoftLabelAssigner(num_classes=80)(
        pred, scores, priors, labels, gts, pad)
    exact = BatchDynamicSoftLabelAssigner(num_classes=2)(
        pred, scores, priors, labels, gts, pad)
    is_fg = exact['assigned_labels'] != 2
    assert is_fg.any() and not is_fg.all()
    assert torch.equal(wide['assigned_labels'][is_fg],
                       exact['assigned_labels'][is_fg])
    assert torch.all(wide['assigned_labels'][~is_fg] == 80)
    for key in ('assigned_bboxes', 'assign_metrics'):
        assert torch.equal(wide[key], exact[key])


def _random_case(seed, num_classes=4):
    """A batch with 0..4 GTs per image on a 96 x 96 input (strides 8/16/32)
    and predicted boxes around each prior."""
    from mmdet.models.task_modules.prior_generators import MlvlPointGenerator
    g = torch.Generator().manual_seed(seed)
    generator = MlvlPointGenerator([8, 16, 32], offset=0)
    priors = torch.cat(
        generator.grid_priors([(12, 12), (6, 6), (3, 3)],
                             with_stride=True,
                             device='cpu'))
    num_priors = len(priors)
    batch = 3
    half = (torch.rand(batch, num_priors, 4, generator=g) * 3 +
            0.5) * priors[None, :, 2:3]
    pred = torch.cat([priors[None, :, :2] - half[..., :2],
                      priors[None, :, :2] + half[..., 2:]], dim=-1)
    scores = torch.randn(batch, num_priors, num_classes, generator=g) * 2
    gt_list = []
    for num_gt in (3, 0, 4):
        xy = torch.rand(num_gt, 2, generator=g) * 60
        wh = torch.rand(num_gt, 2, generator=g) * 50 + 6
        gt_list.append(
            InstanceData(
                bboxes=torch.cat([xy, (xy + wh).clamp(max=96)], dim=1),
                labels=torch.randint(0, num_classes, (num_gt, ),
                                     generator=g)))
    return priors, pred, scores, gt_list


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('batch_iou', [True, False])
def test_same_assignment_as_mmdetection(seed, batch_iou):
    from yolokit.models.utils import gt_instances_preprocess
    num_classes = 4
    priors, pred, scores, gt_list = _random_case(seed, num_classes)
    gt_info = gt_instances_preprocess(gt_list, len(gt_list))
    gt_labels, gt_bboxes = gt_info[..., :1], gt_info[..., 1:]
    pad = (gt_bboxes != 0).any(-1, keepdim=True).float()
    result = BatchDynamicSoftLabelAssigner(
        num_classes=num_classes, batch_iou=batch_iou)(pred, scores, priors,
                                                      gt_labels, gt_bboxes,
                                                      pad)
    reference = DynamicSoftLabelAssigner(topk=13)
    total_pos = 0
    for i, gts in enumerate(gt_list):
        assign = reference.assign(
            InstanceData(priors=priors, bboxes=pred[i], scores=scores[i]),
            gts)
        positive = assign.gt_inds > 0
        total_pos += int(positive.sum())
        expected_labels = torch.full_like(assign.gt_inds, num_classes)
        expected_labels[positive] = assign.labels[positive]
        assert result['assigned_labels'][i].tolist() == \
            expected_labels.tolist()
        expected_metrics = torch.zeros(len(priors))
        expected_metrics[positive] = assign.max_overlaps[positive]
        torch.testing.assert_close(result['assign_metrics'][i],
                                   expected_metrics)
        expected_boxes = torch.zeros(len(priors), 4)
        expected_boxes[positive] = gts.bboxes[assign.gt_inds[positive] - 1]
        torch.testing.assert_close(result['assigned_bboxes'][i],
                                   expected_boxes)
    # more positives than GTs: dynamic_k > 1 happened
    assert total_pos > sum(len(gts) for gts in gt_list)
    assert len(result['assigned_gt_inds']) == total_pos
