"""BatchTaskAlignedAssigner on hand-computed cases (TOOD's metric
``t = s**alpha * u**beta``, spec 07 section 5.2 and 02 section 4.3)."""
import pytest
import torch

from yolokit.models.task_modules.assigners import BatchTaskAlignedAssigner
from yolokit.registry import TASK_UTILS


def _priors(points, stride=10.):
    points = torch.tensor(points)
    return torch.cat([points, torch.full_like(points, stride)], dim=1)


def test_yolov8_settings_single_gt_by_hand():
    """YOLOv8 settings (topk 10, alpha 0.5, beta 6, CIoU), 3 priors, 1 GT.

    GT [0, 0, 20, 10] (class 1 of 2). Priors (5, 5) and (15, 5) are inside
    it, (25, 5) is not. The predicted boxes are concentric with the GT and
    have its aspect ratio, so CIoU equals IoU: 0.25 for prior 0 (a 10x5
    box) and 1 for the others.

    t0 = 0.64**0.5 * 0.25**6 = 0.8 / 4096 = 1.953125e-4
    t1 = 0.25**0.5 * 1**6 = 0.5
    Both inside priors are candidates (topk 10 > 3 priors). The targets are
    t / max(t) * max(IoU of positives): 3.90625e-4 and 1.0.
    """
    assigner = BatchTaskAlignedAssigner(
        num_classes=2, topk=10, alpha=0.5, beta=6.0, eps=1e-9, use_ciou=True)
    priors = _priors([[5., 5.], [15., 5.], [25., 5.]])
    pred_bboxes = torch.tensor([[[5., 2.5, 15., 7.5], [0., 0., 20., 10.],
                                 [0., 0., 20., 10.]]])
    pred_scores = torch.tensor([[[0.1, 0.64], [0.1, 0.25], [0.1, 0.9]]])
    gt_labels = torch.tensor([[[1.]]])
    gt_bboxes = torch.tensor([[[0., 0., 20., 10.]]])
    pad_flag = torch.ones(1, 1, 1)

    result = assigner(pred_bboxes, pred_scores, priors, gt_labels, gt_bboxes,
                      pad_flag)
    assert result['fg_mask_pre_prior'].tolist() == [[True, True, False]]
    assert result['fg_mask_pre_prior'].dtype == torch.bool
    assert result['assigned_labels'][0, :2].tolist() == [1, 1]
    torch.testing.assert_close(result['assigned_bboxes'][0, :2],
                               gt_bboxes[0].expand(2, 4))
    expected_scores = torch.tensor([[0., 3.90625e-4], [0., 1.0], [0., 0.]])
    torch.testing.assert_close(
        result['assigned_scores'][0], expected_scores, rtol=1e-4, atol=1e-7)


def test_two_gts_conflict_resolved_by_iou_by_hand():
    """IoU metric (use_ciou=False), alpha = beta = 1, topk 3, 4 priors.

    GT a = [0, 0, 30, 10] (class 0) holds priors 0-2, GT b = [10, 0, 40, 10]
    (class 1) holds priors 1-3. Predicted boxes and their IoUs with a / b:
    p0 [0,0,30,10] 1 / 0.5; p1 [0,0,20,10] 2/3 / 0.25;
    p2 [20,0,40,10] 0.25 / 2/3; p3 [10,0,40,10] 0.5 / 1.

    Candidates (top 3 inside each GT): a -> {0, 1, 2}, b -> {1, 2, 3}.
    Priors 1 and 2 are claimed twice and go to the GT they overlap most:
    1 -> a (2/3 > 0.25), 2 -> b. Metrics of the positives with scores
    s_a = (0.9, 0.8) and s_b = (0.8, 0.9):
    a: p0 0.9 * 1 = 0.9, p1 0.8 * 2/3 = 0.5333; b: p2 0.5333, p3 0.9.
    Normalised by each GT's max metric (0.9) times its max IoU (1):
    1, 0.59259, 0.59259, 1.
    """
    assigner = BatchTaskAlignedAssigner(
        num_classes=2, topk=3, alpha=1.0, beta=1.0, eps=1e-9)
    priors = _priors([[5., 5.], [15., 5.], [25., 5.], [35., 5.]])
    pred_bboxes = torch.tensor([[[0., 0., 30., 10.], [0., 0., 20., 10.],
                                 [20., 0., 40., 10.], [10., 0., 40., 10.]]])
    pred_scores = torch.tensor([[[0.9, 0.1], [0.8, 0.8], [0.8, 0.8],
                                 [0.1, 0.9]]])
    gt_labels = torch.tensor([[[0.], [1.]]])
    gt_bboxes = torch.tensor([[[0., 0., 30., 10.], [10., 0., 40., 10.]]])
    pad_flag = torch.ones(1, 2, 1)

    result = assigner(pred_bboxes, pred_scores, priors, gt_labels, gt_bboxes,
                      pad_flag)
    assert result['fg_mask_pre_prior'].tolist() == [[True] * 4]
    assert result['assigned_labels'].tolist() == [[0, 0, 1, 1]]
    torch.testing.assert_close(result['assigned_bboxes'][0],
                               gt_bboxes[0][torch.tensor([0, 0, 1, 1])])
    r = 0.8 * (2 / 3) / 0.9
    expected = torch.tensor([[1., 0.], [r, 0.], [0., r], [0., 1.]])
    torch.testing.assert_close(
        result['assigned_scores'][0], expected, rtol=1e-5, atol=1e-6)


def test_topk_limits_candidates_by_hand():
    """Same case with topk 2: a keeps {0, 1} (0.9, 0.5333 > 0.2), b keeps
    {3, 2}; no conflicts, so the targets are as above."""
    assigner = BatchTaskAlignedAssigner(
        num_classes=2, topk=2, alpha=1.0, beta=1.0, eps=1e-9)
    priors = _priors([[5., 5.], [15., 5.], [25., 5.], [35., 5.]])
    pred_bboxes = torch.tensor([[[0., 0., 30., 10.], [0., 0., 20., 10.],
                                 [20., 0., 40., 10.], [10., 0., 40., 10.]]])
    pred_scores = torch.tensor([[[0.9, 0.1], [0.8, 0.8], [0.8, 0.8],
                                 [0.1, 0.9]]])
    result = assigner(
        pred_bboxes, pred_scores, priors, torch.tensor([[[0.], [1.]]]),
        torch.tensor([[[0., 0., 30., 10.], [10., 0., 40., 10.]]]),
        torch.ones(1, 2, 1))
    assert result['assigned_labels'].tolist() == [[0, 0, 1, 1]]
    # with topk 1, b keeps only prior 3 and a only prior 0
    assigner.topk = 1
    result = assigner(
        pred_bboxes, pred_scores, priors, torch.tensor([[[0.], [1.]]]),
        torch.tensor([[[0., 0., 30., 10.], [10., 0., 40., 10.]]]),
        torch.ones(1, 2, 1))
    assert result['fg_mask_pre_prior'].tolist() == [[True, False, False, True]]


def test_padding_and_empty_images():
    """Image 1 has only a padded GT row: everything is background."""
    assigner = BatchTaskAlignedAssigner(num_classes=2, topk=10)
    priors = _priors([[5., 5.], [15., 5.], [25., 5.]])
    pred_bboxes = torch.tensor([[0., 0., 20., 10.]]).expand(2, 3, 4)
    pred_scores = torch.full((2, 3, 2), 0.5)
    gt_labels = torch.tensor([[[1.]], [[0.]]])
    gt_bboxes = torch.tensor([[[0., 0., 20., 10.]], [[0., 0., 0., 0.]]])
    pad_flag = torch.tensor([[[1.]], [[0.]]])
    result = assigner(pred_bboxes, pred_scores, priors, gt_labels, gt_bboxes,
                      pad_flag)
    assert result['fg_mask_pre_prior'].tolist() == [[True, True, False],
                                                    [False, False, False]]
    assert result['assigned_scores'][1].abs().sum() == 0


def test_no_gt_gives_background_defaults():
    assigner = BatchTaskAlignedAssigner(num_classes=3, topk=10)
    result = assigner(
        torch.rand(2, 5, 4), torch.rand(2, 5, 3), _priors([[1., 1.]] * 5),
        torch.zeros(2, 0, 1), torch.zeros(2, 0, 4), torch.zeros(2, 0, 1))
    assert result['assigned_labels'].shape == (2, 5)
    assert (result['assigned_labels'] == 3).all()
    assert result['assigned_bboxes'].shape == (2, 5, 4)
    assert result['assigned_scores'].shape == (2, 5, 3)
    assert result['assigned_bboxes'].abs().sum() == 0
    assert result['assigned_scores'].abs().sum() == 0
    assert not result['fg_mask_pre_prior'].any()


def test_output_shapes_on_many_priors():
    """Upstream's shape test: 84 priors, batch 2, topk 13."""
    torch.manual_seed(0)
    assigner = TASK_UTILS.build(
        dict(
            type='BatchTaskAlignedAssigner', num_classes=4, topk=13, eps=1e-9))
    points = torch.rand(84, 2) * 64
    priors = torch.cat([points, torch.full_like(points, 8.)], 1)
    xy = torch.rand(2, 84, 2) * 48
    pred_bboxes = torch.cat([xy, xy + 16], -1)
    gt_bboxes = torch.tensor([[[4., 4., 40., 40.], [20., 20., 60., 50.]],
                              [[8., 8., 30., 30.], [0., 0., 0., 0.]]])
    pad_flag = torch.tensor([[[1.], [1.]], [[1.], [0.]]])
    result = assigner(pred_bboxes, torch.rand(2, 84, 4), priors,
                      torch.tensor([[[0.], [3.]], [[2.], [0.]]]), gt_bboxes,
                      pad_flag)
    assert result['assigned_labels'].shape == (2, 84)
    assert result['assigned_bboxes'].shape == (2, 84, 4)
    assert result['assigned_scores'].shape == (2, 84, 4)
    assert result['fg_mask_pre_prior'].shape == (2, 84)
    # every GT with a prior inside it gets at most topk positives
    fg = result['fg_mask_pre_prior']
    assert 0 < fg[0].sum() <= 26 and 0 < fg[1].sum() <= 13
    # soft targets lie in [0, 1] and only on the assigned class
    scores = result['assigned_scores']
    assert scores.min() >= 0 and scores.max() <= 1
    assert (scores[~fg] == 0).all()


def test_invalid_topk():
    with pytest.raises(ValueError, match='topk'):
        BatchTaskAlignedAssigner(num_classes=2, topk=0)
