"""YOLOv5Head's loss equals the official YOLOv5 ``ComputeLoss``.

Reference: ``yolov5.utils.loss.ComputeLoss`` of the ``yolov5`` 7.0.14 PyPI
package (the official v7.0 code, see requirements/reference-nodeps.txt),
which builds its own targets (``build_targets``), so this checks the
assignment as well as the three terms. The official loss returns
``(lbox + lobj + lcls) * bs`` and the detached ``(lbox, lobj, lcls)``;
yolokit's terms are each already multiplied by the batch size.
"""
import importlib.util
import sys
import types
import warnings

import pytest
import torch
from mmengine.structures import InstanceData

from yolokit.registry import MODELS

NUM_CLASSES = 3
IMG = 192
STRIDES = (8, 16, 32)
ANCHORS = [[(10, 13), (16, 30), (33, 23)], [(30, 61), (62, 45), (59, 119)],
           [(116, 90), (156, 198), (373, 326)]]
# official hyps (hyp.scratch-low.yaml) without the per-dataset scaling,
# which both sides would apply to their loss weights alike
HYP = dict(box=0.05, obj=1.0, cls=0.5, anchor_t=4.0, cls_pw=1.0, obj_pw=1.0,
           fl_gamma=0.0)


@pytest.fixture(scope='module')
def compute_loss_cls():
    if importlib.util.find_spec('yolov5') is None:
        pytest.skip('reference package "yolov5" is not installed (see '
                    'requirements/reference-nodeps.txt)')
    saved_path = list(sys.path)
    with pytest.MonkeyPatch.context() as mp:
        # its utils import ultralytics' check_requirements only; the real
        # package probes the network when imported
        stub = types.ModuleType('ultralytics.utils.checks')
        stub.check_requirements = lambda *args, **kwargs: True
        for name in ('ultralytics', 'ultralytics.utils'):
            mp.setitem(sys.modules, name, types.ModuleType(name))
        mp.setitem(sys.modules, 'ultralytics.utils.checks', stub)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            from yolov5.utils.loss import ComputeLoss
    sys.path[:] = saved_path
    return ComputeLoss


class _OfficialModelStub(torch.nn.Module):
    """What ``ComputeLoss`` reads of a model: ``hyp``, the device of its
    parameters and the ``Detect`` layer (anchors in grid units)."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.hyp = HYP
        detect = types.SimpleNamespace(
            na=3, nc=NUM_CLASSES, nl=3, stride=torch.tensor(STRIDES,
                                                            dtype=torch.float))
        detect.anchors = torch.tensor(
            ANCHORS, dtype=torch.float) / detect.stride[:, None, None]
        self.model = [detect]


def _yolokit_head():
    return MODELS.build(
        dict(
            type='YOLOv5Head',
            head_module=dict(
                type='YOLOv5HeadModule',
                num_classes=NUM_CLASSES,
                in_channels=[8, 8, 8],
                featmap_strides=list(STRIDES)),
            prior_generator=dict(
                type='mmdet.YOLOAnchorGenerator',
                base_sizes=ANCHORS,
                strides=list(STRIDES)),
            loss_cls=dict(
                type='mmdet.CrossEntropyLoss',
                use_sigmoid=True,
                reduction='mean',
                loss_weight=HYP['cls']),
            loss_bbox=dict(
                type='IoULoss',
                iou_mode='ciou',
                bbox_format='xywh',
                eps=1e-7,
                reduction='mean',
                loss_weight=HYP['box'],
                return_iou=True),
            loss_obj=dict(
                type='mmdet.CrossEntropyLoss',
                use_sigmoid=True,
                reduction='mean',
                loss_weight=HYP['obj'])))


def _official_maps(outs):
    """yolokit's per-level outputs in the official (B, A, H, W, 5 + C)."""
    maps = []
    for cls_score, bbox_pred, objectness in zip(*outs):
        b, _, h, w = cls_score.shape
        maps.append(
            torch.cat([
                bbox_pred.view(b, 3, 4, h, w),
                objectness.view(b, 3, 1, h, w),
                cls_score.view(b, 3, NUM_CLASSES, h, w)
            ], 2).permute(0, 1, 3, 4, 2))
    return maps


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_loss_equals_official_compute_loss(compute_loss_cls, seed):
    g = torch.Generator().manual_seed(seed)
    head = _yolokit_head()
    batch = 2
    outs = tuple([
        torch.randn(batch, 3 * k, IMG // s, IMG // s, generator=g)
        for s in STRIDES
    ] for k in (NUM_CLASSES, 4, 1))
    num_gt = 9
    img = torch.randint(0, batch, (num_gt, ), generator=g).float()
    label = torch.randint(0, NUM_CLASSES, (num_gt, ), generator=g).float()
    # corners and sizes that touch every level, some near cell borders
    xy = torch.rand(num_gt, 2, generator=g) * 140 + 10
    wh = torch.rand(num_gt, 2, generator=g) * 120 + 4
    boxes = torch.cat([xy, xy + wh], 1).clamp(max=IMG)
    metas = [dict(batch_input_shape=(IMG, IMG))] * batch
    ours = head.loss_by_feat(
        *outs, torch.cat([img[:, None], label[:, None], boxes], 1), metas)

    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 / IMG
    size = (boxes[:, 2:] - boxes[:, :2]) / IMG
    targets = torch.cat([img[:, None], label[:, None], centre, size], 1)
    _, (lbox, lobj, lcls) = compute_loss_cls(_OfficialModelStub())(
        _official_maps(outs), targets)
    torch.testing.assert_close(ours['loss_bbox'], lbox * batch)
    torch.testing.assert_close(ours['loss_obj'], lobj * batch)
    torch.testing.assert_close(ours['loss_cls'], lcls * batch)
    assert lbox > 0 and lcls > 0


def test_instance_list_gives_the_official_loss_too(compute_loss_cls):
    g = torch.Generator().manual_seed(5)
    head = _yolokit_head()
    outs = tuple([
        torch.randn(1, 3 * k, IMG // s, IMG // s, generator=g)
        for s in STRIDES
    ] for k in (NUM_CLASSES, 4, 1))
    boxes = torch.tensor([[20., 30., 60., 90.], [100., 40., 180., 120.]])
    gt = InstanceData(bboxes=boxes, labels=torch.tensor([2, 0]))
    ours = head.loss_by_feat(*outs, [gt], [dict(batch_input_shape=(IMG, IMG))])
    targets = torch.cat([
        torch.zeros(2, 1),
        torch.tensor([[2.], [0.]]), (boxes[:, :2] + boxes[:, 2:]) / 2 / IMG,
        (boxes[:, 2:] - boxes[:, :2]) / IMG
    ], 1)
    _, (lbox, lobj, lcls) = compute_loss_cls(_OfficialModelStub())(
        _official_maps(outs), targets)
    torch.testing.assert_close(ours['loss_bbox'], lbox)
    torch.testing.assert_close(ours['loss_obj'], lobj)
    torch.testing.assert_close(ours['loss_cls'], lcls)
