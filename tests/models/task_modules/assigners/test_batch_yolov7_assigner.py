"""BatchYOLOv7Assigner: simOTA pieces by hand, the whole assigner on a
one-GT map worked out by hand, and parity with MMYOLO 0.6.0's assigner on
random input."""
import math

import pytest
import torch

from yolokit.models.dense_heads.yolov5_targets import NEIGHBOUR_OFFSETS
from yolokit.models.task_modules.assigners import BatchYOLOv7Assigner
from yolokit.models.task_modules.assigners.batch_yolov7_assigner import (
    pairwise_cls_cost, simota_match)

GRID_OFFSET = torch.tensor(NEIGHBOUR_OFFSETS, dtype=torch.float)[:, None]


def test_simota_match_by_hand():
    # GT 0: top-3 IoUs 0.9 + 0.8 + 0.4 = 2.1 -> k = 2 -> candidates 0, 1
    # GT 1: top-3 IoUs 0.7 + 0.6 + 0.2 = 1.5 -> k = 1 -> candidate 1
    # candidate 1 is taken twice: cost column (2.0, 0.5) -> GT 1
    ious = torch.tensor([[0.9, 0.8, 0.4, 0.0], [0.0, 0.6, 0.7, 0.2]])
    cost = torch.tensor([[1.0, 2.0, 3.0, 9.0], [9.0, 0.5, 1.5, 4.0]])
    assert simota_match(
        cost, ious, candidate_topk=3).tolist() == [0, 1, -1, -1]


def test_simota_match_k_is_at_least_one():
    # IoU sum 0 would give k = 0; the clamp keeps the cheapest candidate
    ious = torch.zeros(1, 3)
    cost = torch.tensor([[5.0, 1.0, 3.0]])
    assert simota_match(cost, ious, candidate_topk=10).tolist() == [-1, 0, -1]


def test_pairwise_cls_cost_by_formula():
    # logits 0: every probability 0.5, score sqrt(0.5 * 0.5) = 0.5,
    # BCE = -log 0.5 for each of the 2 classes -> 2 log 2
    zero = pairwise_cls_cost(torch.zeros(1, 3), torch.tensor([1]), 2)
    assert zero.shape == (1, 1)
    assert zero.item() == pytest.approx(2 * math.log(2))
    # obj p = 0.8, cls p = (0.2, 0.9), label 1:
    # -log(1 - sqrt(0.16)) - log(sqrt(0.72))
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    logits = torch.tensor([[logit(0.8), logit(0.2), logit(0.9)]])
    want = -math.log(1 - math.sqrt(0.16)) - math.log(math.sqrt(0.72))
    got = pairwise_cls_cost(logits, torch.tensor([1, 0]), 2)
    assert got.shape == (2, 1)
    assert got[0, 0].item() == pytest.approx(want, rel=1e-5)


def _one_gt_case():
    """32x32 input, one level of stride 8 (4x4 cells), one 16 px prior
    (2 grid units), 2 classes, one GT of class 0: centre (10, 14) px, 16 px
    square, i.e. centre (1.25, 1.75) in grid units.

    Stage 1: x frac 0.25 < 0.5 -> the left cell (0, 1) too; y frac from
    the far side (4 - 1.75) % 1 = 0.25 < 0.5 -> the lower cell (1, 2).
    With raw 0 predictions every box is the prior centred in its cell
    (16 px square), so the IoUs with the GT [2, 6, 18, 22] are:
    cell (1, 1) box [4, 4, 20, 20]: 14 * 14 / (512 - 196) = 0.620;
    cell (0, 1) box [-4, 4, 12, 20]: 10 * 14 / (512 - 140) = 0.376;
    cell (1, 2) box [4, 12, 20, 28]: the same 0.376.
    Sum 1.37 -> k = 1: only the cheapest candidate becomes positive.
    """
    gt = torch.tensor([[0., 0., 10 / 32, 14 / 32, 16 / 32, 16 / 32, 0.]])
    pred = torch.zeros(1, 1, 4, 4, 7)  # (B, A, H, W, 4 + 1 + C)
    return gt[None], pred, torch.tensor([[[2., 2.]]])


def test_one_gt_by_hand():
    targets, pred, priors = _one_gt_case()
    assigner = BatchYOLOv7Assigner(
        num_classes=2, num_base_priors=1, featmap_strides=[8])
    # equal class costs: the IoU cost decides -> cell (1, 1)
    result = assigner([pred], targets, (32, 32), priors, GRID_OFFSET)
    assert result['mlvl_positive_infos'][0].tolist() == [[0, 0, 1, 1]]
    assert result['mlvl_priors'][0].tolist() == [[2., 2.]]
    assert torch.equal(result['mlvl_targets_normed'][0], targets[0])


def test_one_gt_class_cost_moves_the_positive():
    targets, pred, priors = _one_gt_case()
    # cell (1, 1) now predicts class 1 for sure (obj and cls logits +-10):
    # score of class 0 sqrt(sigm(-10) * sigm(10)) = 0.0067 -> 5.0, class 1
    # 1 - sigm(10) -> 10.0: class cost 15 + IoU cost 3 * 0.478 = 16.4,
    # while the left cell costs 2 log 2 + 3 * -log(0.376) = 4.3
    pred[0, 0, 1, 1, 4:] = torch.tensor([10., -10., 10.])
    assigner = BatchYOLOv7Assigner(
        num_classes=2, num_base_priors=1, featmap_strides=[8])
    result = assigner([pred], targets, (32, 32), priors, GRID_OFFSET)
    assert result['mlvl_positive_infos'][0].tolist() == [[0, 0, 0, 1]]


def test_no_gt_gives_empty_levels():
    assigner = BatchYOLOv7Assigner(
        num_classes=2, num_base_priors=1, featmap_strides=[8, 16])
    preds = [torch.zeros(2, 1, 4, 4, 7), torch.zeros(2, 1, 2, 2, 7)]
    result = assigner(preds, torch.zeros(1, 0, 7), (32, 32),
                      torch.ones(2, 1, 2), GRID_OFFSET)
    for infos in result['mlvl_positive_infos']:
        assert infos.shape == (0, 4)


def test_bad_pred_shape_is_named():
    assigner = BatchYOLOv7Assigner(
        num_classes=2, num_base_priors=1, featmap_strides=[8])
    with pytest.raises(ValueError, match=r'pred_results\[0\]'):
        assigner([torch.zeros(1, 1, 4, 4, 6)], torch.zeros(1, 1, 7), (32, 32),
                 torch.ones(1, 1, 2), GRID_OFFSET)


def _random_batch(seed: int, num_classes: int):
    """2 images of 64x96, 3 levels, YOLOv7's P5 anchors, 5 + 3 GTs."""
    gen = torch.Generator().manual_seed(seed)
    strides = [8, 16, 32]
    sizes = [(8, 12), (4, 6), (2, 3)]
    preds = [
        torch.randn(2, 3, h, w, 5 + num_classes, generator=gen) * 0.5
        for h, w in sizes
    ]
    anchors = torch.tensor(
        [[(12, 16), (19, 36),
          (40, 28)], [(36, 75), (76, 55),
                      (72, 146)], [(142, 110), (192, 243), (459, 401)]],
        dtype=torch.float)
    priors = anchors / torch.tensor(strides, dtype=torch.float)[:, None, None]
    rows = []
    for img_idx, num in ((0, 5), (1, 3)):
        centre = torch.rand(num, 2, generator=gen) * 0.8 + 0.1
        wh = torch.rand(num, 2, generator=gen) * 0.5 + 0.05
        label = torch.randint(num_classes, (num, 1), generator=gen).float()
        rows.append(
            torch.cat(
                [torch.full((num, 1), float(img_idx)), label, centre, wh], 1))
    rows = torch.cat(rows)
    prior_col = torch.arange(3.).view(3, 1, 1).expand(3, len(rows), 1)
    targets = torch.cat([rows[None].expand(3, -1, -1), prior_col], 2)
    return preds, targets, priors


def _sorted_rows(infos, priors, targets):
    if len(infos) == 0:
        return torch.zeros(0, 13)
    rows = torch.cat([infos.float(), priors, targets], 1)
    # lexicographic sort: positives may come in a different order only
    # where identical candidates tie
    for col in reversed(range(rows.shape[1])):
        rows = rows[rows[:, col].argsort(stable=True)]
    return rows


@pytest.mark.parametrize('seed,near_thr', [(0, 0.5), (1, 0.5), (2, 1.0)])
def test_matches_mmyolo(mmyolo_reference, seed, near_thr):
    module = mmyolo_reference.package.models.task_modules.assigners
    theirs_cls = module.batch_yolov7_assigner.BatchYOLOv7Assigner
    kwargs = dict(
        num_classes=4,
        num_base_priors=3,
        featmap_strides=[8, 16, 32],
        candidate_topk=10)
    preds, targets, priors = _random_batch(seed, num_classes=4)
    got = BatchYOLOv7Assigner(**kwargs)(preds, targets, (64, 96), priors,
                                        GRID_OFFSET, near_thr)
    want = theirs_cls(**kwargs)(preds, targets, (64, 96), priors, GRID_OFFSET,
                                near_thr)
    level_counts = []
    for level in range(3):
        want_rows = [
            want[k][level] for k in ('mlvl_positive_infos', 'mlvl_priors',
                                     'mlvl_targets_normed')
        ]
        got_rows = [
            got[k][level] for k in ('mlvl_positive_infos', 'mlvl_priors',
                                    'mlvl_targets_normed')
        ]
        assert len(got_rows[0]) == len(want_rows[0]), level
        level_counts.append(len(want_rows[0]))
        torch.testing.assert_close(
            _sorted_rows(*got_rows), _sorted_rows(*want_rows))
    # more positives than GTs: some GT got k > 1 (8 GTs)
    assert sum(level_counts) > 8, f'too few positives: {level_counts}'


def test_label_out_of_range_is_named():
    targets, pred, priors = _one_gt_case()
    targets[..., 1] = 2  # num_classes is 2
    assigner = BatchYOLOv7Assigner(
        num_classes=2, num_base_priors=1, featmap_strides=[8])
    with pytest.raises(ValueError, match='num_classes=2'):
        assigner([pred], targets, (32, 32), priors, GRID_OFFSET)
