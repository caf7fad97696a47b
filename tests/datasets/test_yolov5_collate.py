"""Tests of yolov5_collate."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.registry import FUNCTIONS
from mmengine.runner import Runner
from mmengine.structures import InstanceData, PixelData

from yolokit.datasets import yolov5_collate


def _item(boxes,
          labels,
          img_shape=(3, 10, 10),
          fill=0.0,
          masks=None,
          pan_seg=None,
          keypoints=None):
    sample = DetDataSample()
    gt = InstanceData()
    gt.bboxes = HorizontalBoxes(
        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    gt.labels = torch.tensor(labels, dtype=torch.int64)
    if masks is not None:
        gt.masks = masks
    if keypoints is not None:
        gt.keypoints, gt.keypoints_visible = keypoints
    sample.gt_instances = gt
    if pan_seg is not None:
        sample.gt_panoptic_seg = PixelData(pan_seg=pan_seg)
    return dict(inputs=torch.full(img_shape, fill), data_samples=sample)


def test_layout_of_bboxes_labels():
    a = _item([[1, 2, 3, 4], [5, 6, 7, 8]], [3, 0], fill=1.0)
    b = _item([], [], fill=2.0)
    c = _item([[0, 0, 9, 9]], [7], fill=3.0)
    out = yolov5_collate([a, b, c])
    assert out['inputs'].shape == (3, 3, 10, 10)
    assert out['inputs'][:, 0, 0, 0].tolist() == [1.0, 2.0, 3.0]
    # rows: (img_idx, label, x1, y1, x2, y2)
    assert out['data_samples']['bboxes_labels'].tolist() == [
        [0, 3, 1, 2, 3, 4],
        [0, 0, 5, 6, 7, 8],
        [2, 7, 0, 0, 9, 9],
    ]
    assert out['data_samples']['bboxes_labels'].dtype == torch.float32
    assert set(out['data_samples']) == {'bboxes_labels'}


def test_upstream_shapes_one_and_two_samples():
    item = _item([[0, 0, 1, 1]] * 4, [0, 1, 2, 3])
    out = yolov5_collate([item])
    assert out['inputs'].shape == (1, 3, 10, 10)
    assert out['data_samples']['bboxes_labels'].shape == (4, 6)
    out = yolov5_collate([item, item])
    assert out['inputs'].shape == (2, 3, 10, 10)
    assert out['data_samples']['bboxes_labels'].shape == (8, 6)
    assert out['data_samples']['bboxes_labels'][:, 0].tolist(
    ) == [0] * 4 + [1] * 4


def test_multi_scale_keeps_a_list_and_shape_mismatch_errors():
    a = _item([[0, 0, 1, 1]], [0], img_shape=(3, 8, 8))
    b = _item([[0, 0, 1, 1]], [1], img_shape=(3, 6, 10))
    out = yolov5_collate([a, b], use_ms_training=True)
    assert isinstance(out['inputs'], list)
    assert [tuple(t.shape) for t in out['inputs']] == [(3, 8, 8), (3, 6, 10)]
    with pytest.raises(ValueError, match='use_ms_training'):
        yolov5_collate([a, b])


def test_masks_overlap_masks_and_keypoints_are_concatenated():
    a = _item(
        [[0, 0, 1, 1]] * 2, [0, 1],
        masks=torch.ones(2, 5, 5),
        keypoints=(torch.zeros(2, 17, 2), torch.ones(2, 17)))
    b = _item([[0, 0, 1, 1]], [0],
              masks=torch.zeros(1, 5, 5),
              keypoints=(torch.ones(1, 17, 2), torch.zeros(1, 17)))
    out = yolov5_collate([a, b])['data_samples']
    assert out['masks'].shape == (3, 5, 5)
    assert out['masks'][:, 0, 0].tolist() == [1, 1, 0]
    assert out['keypoints'].shape == (3, 17, 2)
    assert out['keypoints_visible'][:, 0].tolist() == [1, 1, 0]

    # YOLOv5 overlap masks: one (1, H, W) map per image -> (B, H, W).
    c = _item([[0, 0, 1, 1]], [0], pan_seg=torch.full((1, 5, 5), 1))
    d = _item([[0, 0, 1, 1]], [0], pan_seg=torch.full((1, 5, 5), 2))
    out = yolov5_collate([c, d])['data_samples']
    assert out['masks'].shape == (2, 5, 5)
    assert out['masks'][:, 0, 0].tolist() == [1, 2]


class _ListDataset(torch.utils.data.Dataset):

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def test_runner_builds_dataloader_with_scope_keyword():
    """mmengine adds ``_scope_`` to inherited ``yolokit::`` configs and the
    runner passes it to the collate function as a keyword."""
    assert FUNCTIONS.get('yolov5_collate') is yolov5_collate
    items = [_item([[1, 1, 4, 4]], [i]) for i in range(4)]
    loader = Runner.build_dataloader(
        dict(
            batch_size=2,
            num_workers=0,
            dataset=_ListDataset(items),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='yolov5_collate', _scope_='yolokit')))
    batches = list(loader)
    assert len(batches) == 2
    assert batches[1]['inputs'].shape == (2, 3, 10, 10)
    assert batches[1]['data_samples']['bboxes_labels'].tolist() == [[
        0, 2, 1, 1, 4, 4
    ], [1, 3, 1, 1, 4, 4]]


def test_error_on_wrong_items():
    with pytest.raises(KeyError, match='PackDetInputs'):
        yolov5_collate([dict(img=torch.zeros(3, 2, 2))])
