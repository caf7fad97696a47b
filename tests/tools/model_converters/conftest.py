"""Shared parts of the converter tests that use the Ultralytics package
(YOLOv8 and YOLOv5u): the reference models and the comparison of their
outputs with the converted yolokit model.

Tests import nothing from each other (``--import-mode=importlib``), so the
helpers are handed out as fixtures.
"""
import copy
import os.path as osp

import cv2
import pytest
import torch
from mmengine.dataset import pseudo_collate

PHOTOS = ('demo.jpg', 'dog.jpg', 'large_image.jpg')


def _calibration_batch(images_dir: str) -> torch.Tensor:
    """The shared photos at 320 x 256, RGB in [0, 1]: (3, 3, 256, 320)."""
    batch = []
    for name in PHOTOS:
        img = cv2.resize(cv2.imread(osp.join(images_dir, name)), (320, 256))
        batch.append(
            torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1).float() /
            255)
    return torch.stack(batch)


def _randomise_ultralytics_model(model: torch.nn.Module,
                                 images_dir: str) -> torch.nn.Module:
    """Give an Ultralytics model weights that make a comparison telling.

    Every BatchNorm gets random affine parameters and running statistics
    calibrated on the shared photos (so a swapped or missing tensor shows
    up in the outputs), and the class logits are spread so that the boxes
    above the score threshold have distinct scores, as a trained model's do.
    """
    g = torch.Generator().manual_seed(1)
    calib = _calibration_batch(images_dir)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.uniform_(-0.5, 0.5, generator=g)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration
        model.train()
        model(calib)
        for bn in bns:
            bn.momentum = 0.03
        model.eval()
        detect = model.model[-1]
        logits = {}
        hooks = [
            branch[-1].register_forward_hook(
                lambda m, i, o, k=k: logits.__setitem__(k, o))
            for k, branch in enumerate(detect.cv3)
        ]
        model(calib)
        for hook in hooks:
            hook.remove()
        for k, branch in enumerate(detect.cv3):
            spread = (logits[k] - branch[-1].bias[None, :, None, None]).std()
            branch[-1].weight.mul_(0.7 / spread)
            branch[-1].bias.fill_(-5.0)
    return model


@pytest.fixture(scope='session')
def ultralytics_reference(images_dir):
    """``build(yaml_name)``: an Ultralytics ``DetectionModel`` built from
    the package's yaml (no download), seeded, with telling random weights
    (see :func:`_randomise_ultralytics_model`)."""
    tasks = pytest.importorskip('ultralytics.nn.tasks')

    def build(yaml_name: str) -> torch.nn.Module:
        torch.manual_seed(0)
        model = tasks.DetectionModel(yaml_name, verbose=False)
        return _randomise_ultralytics_model(model, images_dir)

    return build


def _photo_input(cfg, model, images_dir: str) -> dict:
    """dog.jpg (576 x 768) through the config's test pipeline at 640 x 480,
    which letterboxes it without padding (uniform padding would give many
    priors identical scores and make NMS order-dependent)."""
    from yolokit.registry import TRANSFORMS
    steps = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    for step in steps:
        if 'scale' in step:
            step['scale'] = (640, 480)
    results = dict(
        img_path=osp.join(images_dir, 'dog.jpg'), img_id=0, instances=[])
    for step in steps:
        results = TRANSFORMS.build(step)(results)
    return model.data_preprocessor(pseudo_collate([results]), False)


def _assert_matches_ultralytics(reference, cfg, model, images_dir) -> None:
    """The converted YOLOv8-head ``model`` gives ``reference``'s raw
    outputs, decoded distances and boxes after NMS on the letterboxed
    photo (same score / NMS thresholds, multi-label, 300 boxes max)."""
    ultralytics_nms = pytest.importorskip('ultralytics.utils.nms')
    model.eval()
    data = _photo_input(cfg, model, images_dir)
    inputs = data['inputs']
    assert inputs.shape == (1, 3, 480, 640)
    with torch.no_grad():
        decoded, raw = reference(inputs)
        feats = model.extract_feat(inputs)
        cls_scores, bbox_preds = model.bbox_head(feats)
        head = model.bbox_head.head_module
        dist_logits = [head.reg_preds[i](f) for i, f in enumerate(feats)]

    # raw per-level outputs: class logits and box distributions
    sizes = [f.shape[2] * f.shape[3] for f in feats]
    ref_scores = raw['scores'].split(sizes, dim=2)
    ref_dists = raw['boxes'].split(sizes, dim=2)
    for i in range(len(feats)):
        torch.testing.assert_close(
            cls_scores[i].flatten(2), ref_scores[i], rtol=0, atol=1e-5)
        torch.testing.assert_close(
            dist_logits[i].flatten(2), ref_dists[i], rtol=0, atol=1e-5)
    # decoded distances (stride units): softmax-expectation vs DFL conv
    ref_dist = reference.model[-1].dfl(raw['boxes'])
    ours_dist = torch.cat([b.flatten(2) for b in bbox_preds], dim=2)
    torch.testing.assert_close(ours_dist, ref_dist, rtol=0, atol=1e-4)

    thr = float(decoded[0, 4:].flatten().topk(300).values[-1])
    test_cfg = dict(
        multi_label=True,
        nms_pre=30000,
        score_thr=thr,
        nms=dict(type='nms', iou_threshold=0.7),
        max_per_img=300)
    with torch.no_grad():
        ours, = model.bbox_head.predict_by_feat(
            cls_scores,
            bbox_preds,
            batch_img_metas=[s.metainfo for s in data['data_samples']],
            cfg=test_cfg,
            rescale=False)
        theirs, = ultralytics_nms.non_max_suppression(
            decoded,
            conf_thres=thr,
            iou_thres=0.7,
            multi_label=True,
            max_det=300)
    assert len(ours) > 20
    assert len(ours) == len(theirs)
    ours_order = ours.scores.argsort(descending=True)
    their_order = theirs[:, 4].argsort(descending=True)
    their_boxes = theirs[their_order, :4].clone()
    # yolokit clamps the kept boxes to the image, Ultralytics' NMS does not
    their_boxes[:, 0::2].clamp_(0, inputs.shape[3])
    their_boxes[:, 1::2].clamp_(0, inputs.shape[2])
    torch.testing.assert_close(
        ours.bboxes[ours_order], their_boxes, rtol=0, atol=1e-3)
    torch.testing.assert_close(
        ours.scores[ours_order], theirs[their_order, 4], rtol=0, atol=1e-5)
    assert torch.equal(ours.labels[ours_order], theirs[their_order, 5].long())


@pytest.fixture(scope='session')
def assert_matches_ultralytics():
    """``check(reference, cfg, model, images_dir)``, see
    :func:`_assert_matches_ultralytics`."""
    return _assert_matches_ultralytics


def _assert_checkpoint_files_convert(converter, script: str, reference,
                                     model: torch.nn.Module, tmp_path) -> None:
    """Both file forms an Ultralytics converter reads give the same weights,
    and its command line writes a checkpoint that ``model`` loads strictly.

    * a released-style checkpoint: the pickled model object in half
      precision, under ``model`` (``ema`` None);
    * a plain ``state_dict`` in float32, which converts through the command
      line (``--src``/``--dst``).
    """
    import subprocess
    import sys
    pickled = tmp_path / 'ultralytics_half.pt'
    torch.save(
        dict(model=copy.deepcopy(reference).half(), ema=None, epoch=-1),
        pickled)
    plain = tmp_path / 'plain.pth'
    torch.save(reference.state_dict(), plain)

    from_pickle = converter.convert(
        converter.load_ultralytics_checkpoint(str(pickled)))
    from_plain = converter.convert(
        converter.load_ultralytics_checkpoint(str(plain)))
    assert from_pickle.keys() == from_plain.keys()
    for key, value in from_pickle.items():
        # converted to float32 by default, equal up to the half rounding
        assert value.dtype == from_plain[key].dtype, key
        if value.is_floating_point():
            torch.testing.assert_close(value, from_plain[key].half().float())

    dst = tmp_path / 'converted.pth'
    subprocess.run(
        [sys.executable, script, '--src',
         str(plain), '--dst',
         str(dst)],
        check=True,
        cwd=osp.dirname(osp.dirname(osp.dirname(script))))
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    model.load_state_dict(saved['state_dict'], strict=True)


@pytest.fixture(scope='session')
def assert_checkpoint_files_convert():
    """``check(converter, script, reference, model, tmp_path)``, see
    :func:`_assert_checkpoint_files_convert`."""
    return _assert_checkpoint_files_convert
