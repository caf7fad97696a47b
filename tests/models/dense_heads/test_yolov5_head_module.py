"""YOLOv5HeadModule: layout of outputs, bias init, state_dict keys."""
import math
import os.path as osp

import pytest
import torch

from yolokit.models.dense_heads import YOLOv5HeadModule
from yolokit.registry import MODELS


def _feats(channels, sizes=(8, 4, 2), batch=2):
    return tuple(torch.rand(batch, c, s, s) for c, s in zip(channels, sizes))


def test_output_shapes():
    module = MODELS.build(
        dict(
            type='YOLOv5HeadModule',
            num_classes=80,
            in_channels=[256, 512, 1024],
            widen_factor=0.25))
    assert module.in_channels == [64, 128, 256]
    cls_scores, bbox_preds, objectnesses = module(_feats([64, 128, 256]))
    for cls_score, bbox_pred, obj, s in zip(cls_scores, bbox_preds,
                                            objectnesses, (8, 4, 2)):
        assert cls_score.shape == (2, 3 * 80, s, s)
        assert bbox_pred.shape == (2, 3 * 4, s, s)
        assert obj.shape == (2, 3, s, s)


def test_int_in_channels_is_used_for_every_level():
    module = YOLOv5HeadModule(num_classes=2, in_channels=20, widen_factor=0.5)
    # make_divisible(20, 0.5) = ceil(10 / 8) * 8 = 16
    assert module.in_channels == [16, 16, 16]
    assert [c.in_channels for c in module.convs_pred] == [16, 16, 16]


def test_channel_layout_is_box_obj_cls_per_prior():
    # Raw conv output per prior: 4 box values, objectness, class scores.
    nc, na = 2, 3
    module = YOLOv5HeadModule(num_classes=nc, in_channels=[4, 4, 4])
    for conv in module.convs_pred:
        torch.nn.init.zeros_(conv.weight)
        conv.bias.data = torch.arange(na * (5 + nc), dtype=torch.float)
    cls_scores, bbox_preds, objectnesses = module(_feats([8, 8, 8]))
    attrib = 5 + nc
    for a in range(na):
        for c in range(nc):
            assert torch.all(cls_scores[0][:,
                                           a * nc + c] == a * attrib + 5 + c)
        for j in range(4):
            assert torch.all(bbox_preds[1][:, a * 4 + j] == a * attrib + j)
        assert torch.all(objectnesses[2][:, a] == a * attrib + 4)


def test_init_weights_adds_prior_biases_once():
    nc = 5
    module = YOLOv5HeadModule(num_classes=nc, in_channels=[8, 8, 8])
    before = [
        conv.bias.detach().clone().view(3, -1) for conv in module.convs_pred
    ]
    module.init_weights()
    module.init_weights()  # a second call must not add the offsets again
    for conv, b0, s in zip(module.convs_pred, before, (8, 16, 32)):
        diff = conv.bias.detach().view(3, -1) - b0
        torch.testing.assert_close(diff[:, :4], torch.zeros(3, 4))
        torch.testing.assert_close(
            diff[:, 4], torch.full((3, ), math.log(8 / (640 / s)**2)))
        torch.testing.assert_close(
            diff[:, 5:], torch.full((3, nc), math.log(0.6 / (nc - 0.999999))))


def test_wrong_number_of_levels():
    module = YOLOv5HeadModule(num_classes=2, in_channels=[8, 8, 8])
    with pytest.raises(ValueError, match='3 feature maps'):
        module(_feats([8, 8]))
    with pytest.raises(ValueError, match='in_channels'):
        YOLOv5HeadModule(num_classes=2, in_channels=[8, 8])


def _tree_params(path, prefix):
    params = {}
    with open(path) as f:
        for line in f:
            parts = line.split(maxsplit=2)
            if len(parts) == 3 and parts[0] == 'param' and \
                    parts[1].startswith(prefix):
                params[parts[1][len(prefix):]] = tuple(
                    int(v) for v in parts[2].strip('()\n ').split(',') if v)
    return params


@pytest.mark.parametrize('fname, in_channels, strides', [
    ('yolov5_s-v61_syncbn_fast_8xb16-300e_coco.txt', [256, 512, 1024],
     (8, 16, 32)),
    ('yolov5_s-p6-v62_syncbn_fast_8xb16-300e_coco.txt', [256, 512, 768, 1024],
     (8, 16, 32, 64)),
])
def test_state_dict_matches_mmyolo(module_trees_dir, fname, in_channels,
                                   strides):
    expected = _tree_params(
        osp.join(module_trees_dir, 'yolov5', fname), 'bbox_head.head_module.')
    assert expected
    module = YOLOv5HeadModule(
        num_classes=80,
        in_channels=in_channels,
        widen_factor=0.5,
        featmap_strides=strides)
    got = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert got == expected
