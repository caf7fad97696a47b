"""Tests of YOLOXBatchSyncRandomResize."""
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine import MessageHub
from mmengine.structures import InstanceData

from yolokit.models.data_preprocessors import YOLOXBatchSyncRandomResize
from yolokit.registry import MODELS


def _set_iter(i):
    MessageHub.get_current_instance().update_info('iter', i)


def _samples():
    return dict(
        bboxes_labels=torch.tensor([[0, 1, 2, 4, 6, 8], [1, 0, 1, 1, 3, 3.]]),
        keypoints=torch.tensor([[[2., 4.]], [[1., 1.]]]),
        masks=torch.arange(2 * 4 * 6).reshape(2, 4, 6) % 2)


def test_resizes_inputs_boxes_keypoints_and_masks():
    resize = MODELS.build(
        dict(
            type='YOLOXBatchSyncRandomResize',
            random_size_range=(480, 800),
            interval=10))
    _set_iter(0)  # (0 + 1) % 10 != 0: no new size drawn
    resize._input_size = (32, 24)
    inputs = torch.rand(2, 3, 16, 24)
    out, samples = resize(inputs, _samples())
    torch.testing.assert_close(
        out,
        F.interpolate(
            inputs, size=(32, 24), mode='bilinear', align_corners=False))
    # x scale 24/24 = 1, y scale 32/16 = 2.
    assert samples['bboxes_labels'].tolist() == [[0, 1, 2, 8, 6, 16],
                                                 [1, 0, 1, 2, 3, 6]]
    assert samples['keypoints'].tolist() == [[[2, 8]], [[1, 2]]]
    # masks at 1/4 of the input: (4, 6) -> (8, 6), rows repeated.
    assert samples['masks'].shape == (2, 8, 6)
    assert torch.equal(samples['masks'][:, ::2], _samples()['masks'])
    assert resize._input_size == (32, 24)


def test_first_batch_keeps_size_then_new_size_every_interval():
    resize = YOLOXBatchSyncRandomResize(
        random_size_range=(480, 800), size_divisor=32, interval=2)
    inputs = torch.rand(1, 3, 64, 64)
    _set_iter(0)
    out, _ = resize(inputs, _samples())
    assert out.shape[-2:] == (64, 64)
    assert resize._input_size == (64, 64)  # (0 + 1) % 2 != 0
    seen = set()
    for i in range(1, 60, 2):  # (i + 1) % 2 == 0: draw a new size
        _set_iter(i)
        resize(inputs, _samples())
        h, w = resize._input_size
        assert h == w  # square batch -> aspect ratio 1
        assert 480 <= h <= 800 and h % 32 == 0
        seen.add(h)
    assert len(seen) > 3


def test_aspect_ratio_of_the_batch_is_kept_in_new_size():
    resize = YOLOXBatchSyncRandomResize(
        random_size_range=(480, 800), size_divisor=32, interval=1)
    _set_iter(0)
    resize(torch.rand(1, 3, 20, 40), _samples())
    h, w = resize._input_size
    # h = 32 * s, w = 32 * int(2 * s)
    assert w == 32 * int(2 * (h // 32))


def test_list_of_data_samples_falls_back_to_mmdet():
    resize = YOLOXBatchSyncRandomResize(
        random_size_range=(480, 800), interval=100)
    _set_iter(0)
    resize._input_size = (20, 20)
    sample = DetDataSample(
        metainfo=dict(img_shape=(10, 10), pad_shape=(10, 10)))
    # DetDataPreprocessor has turned boxes into plain tensors by now.
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[1., 2., 3., 4.]]), labels=torch.tensor([0]))
    out, samples = resize(torch.rand(1, 3, 10, 10), [sample])
    assert out.shape == (1, 3, 20, 20)
    assert samples[0].gt_instances.bboxes.tolist() == [[2, 4, 6, 8]]
    assert samples[0].img_shape == (20, 20)
