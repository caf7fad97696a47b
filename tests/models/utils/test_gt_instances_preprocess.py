"""gt_instances_preprocess: list and "fast" tensor inputs (spec 07 s6.3)."""
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

from yolokit.models.utils import gt_instances_preprocess


def _instances(boxes, labels, box_dim=4):
    return InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).view(-1, box_dim),
        labels=torch.tensor(labels, dtype=torch.long))


@pytest.mark.parametrize('box_dim', [4, 5])
def test_spec_cases(box_dim):
    # spec: an image without boxes gives a (1, 0, box_dim + 1) tensor, and
    # the tensor [[0, 1, 0...]] gives (1, 1, box_dim + 1)
    out = gt_instances_preprocess([_instances([], [], box_dim)], 1)
    assert out.shape == (1, 0, box_dim + 1)
    out = gt_instances_preprocess(
        torch.zeros(1, box_dim + 2).index_fill_(1, torch.tensor([1]), 1.), 1)
    assert out.shape == (1, 1, box_dim + 1)
    assert out[0, 0].tolist() == [1.] + [0.] * box_dim


def test_list_input_pads_with_zero_rows():
    batch = [
        _instances([[1, 2, 3, 4], [5, 6, 7, 8]], [3, 1]),
        _instances([], []),
        _instances([[9, 10, 11, 12]], [2]),
    ]
    out = gt_instances_preprocess(batch, 3)
    expected = torch.tensor([
        [[3, 1, 2, 3, 4], [1, 5, 6, 7, 8]],
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
        [[2, 9, 10, 11, 12], [0, 0, 0, 0, 0]],
    ]).float()
    assert torch.equal(out, expected)


def test_box_structures_are_unwrapped():
    batch = [
        InstanceData(
            bboxes=HorizontalBoxes(torch.tensor([[1., 2., 3., 4.]])),
            labels=torch.tensor([7]))
    ]
    out = gt_instances_preprocess(batch, 1)
    assert torch.equal(out, torch.tensor([[[7., 1., 2., 3., 4.]]]))


def test_tensor_input_groups_rows_by_image_in_order():
    # rows of different images interleaved; image 1 has none
    rows = torch.tensor([
        [2, 5, 1, 1, 2, 2],
        [0, 1, 10, 10, 20, 20],
        [2, 6, 3, 3, 4, 4],
        [0, 2, 30, 30, 40, 40],
        [2, 7, 5, 5, 6, 6],
    ]).double()
    out = gt_instances_preprocess(rows, 3)
    assert out.dtype == torch.float64
    expected = torch.tensor([
        [[1, 10, 10, 20, 20], [2, 30, 30, 40, 40], [0, 0, 0, 0, 0]],
        [[0, 0, 0, 0, 0]] * 3,
        [[5, 1, 1, 2, 2], [6, 3, 3, 4, 4], [7, 5, 5, 6, 6]],
    ]).double()
    assert torch.equal(out, expected)


def test_tensor_input_with_trailing_empty_images_and_empty_tensor():
    rows = torch.tensor([[0, 4, 1, 2, 3, 4]], dtype=torch.float32)
    out = gt_instances_preprocess(rows, 3)
    assert out.shape == (3, 1, 5)
    assert out[0, 0].tolist() == [4, 1, 2, 3, 4]
    assert torch.all(out[1:] == 0)

    empty = gt_instances_preprocess(torch.zeros(0, 6), 4)
    assert empty.shape == (4, 0, 5)


def test_list_and_tensor_inputs_agree():
    g = torch.Generator().manual_seed(0)
    counts = [3, 0, 1, 4]
    batch, rows = [], []
    for img, n in enumerate(counts):
        boxes = torch.rand(n, 4, generator=g) * 100
        labels = torch.randint(0, 80, (n, ), generator=g)
        batch.append(InstanceData(bboxes=boxes, labels=labels))
        img_col = torch.full((n, 1), float(img))
        rows.append(torch.cat((img_col, labels[:, None].float(), boxes), 1))
    from_list = gt_instances_preprocess(batch, len(counts))
    from_tensor = gt_instances_preprocess(torch.cat(rows), len(counts))
    assert from_list.shape == (4, 4, 5)
    assert torch.equal(from_list, from_tensor)


def test_rows_of_images_outside_the_batch_are_left_out():
    # MMYOLO's test feeds image index 1 for a batch of one image: that row
    # belongs to no image of the batch and is dropped, not an IndexError
    rows = torch.tensor([[0., 0., 23.6667, 23.8757, 238.6326, 151.8874],
                         [1., 0., 24.6667, 27.8757, 28.6326, 51.8874],
                         [-1., 2., 1., 1., 2., 2.]])
    out = gt_instances_preprocess(rows, 1)
    assert out.shape == (1, 1, 5)
    assert out[0, 0].tolist() == rows[0, 1:].tolist()
    assert gt_instances_preprocess(rows[1:], 1).shape == (1, 0, 5)


def test_padded_gt_marks_real_slots():
    from yolokit.models.utils import PaddedGT
    rows = torch.tensor([[0., 2., 1., 2., 3., 4.], [1., 0., 0., 0., 5., 5.],
                         [1., 1., 6., 6., 7., 7.]])
    gt = PaddedGT.from_batch(rows, 2, torch.device('cpu'))
    assert gt.labels[..., 0].tolist() == [[2., 0.], [0., 1.]]
    # image 0 has one GT and one padding slot; a box at the origin is real
    assert gt.is_real[..., 0].tolist() == [[1., 0.], [1., 1.]]
    assert gt.boxes[1, 0].tolist() == [0., 0., 5., 5.]
