"""Side-by-side speed figures: inference latency and training throughput.

Measures, in one run on this machine:

* inference latency at batch 1 (preprocess + forward + postprocess, i.e. one
  call from a BGR image in memory to final boxes) for each small yolokit
  model in ``BENCHMARKED`` (YOLOv8-n, RTMDet-tiny, YOLOv6-n, YOLOv7-tiny,
  PP-YOLOE+-s), eager and as with ``tools/test.py --deploy``, and for
  Ultralytics' YOLOv8n on the same weights as yolokit's YOLOv8-n;
* training throughput in images/s of one optimisation step (forward, loss,
  backward, SGD step) on a synthetic 640 x 640 batch, for the same models.
  Data loading and augmentation are excluded (batch augments such as
  PP-YOLOE's random resize too, so every model sees 640 x 640), so the
  figures compare the models and their losses, not the pipelines.

Both YOLOv8 implementations get identical random weights (converted with
``tools/model_converters/yolov8_to_yolokit.py``) and the same thresholds
(score 0.25, NMS IoU 0.7, single label, at most 300 boxes), so they do the
same amount of post-processing.

Example:
    python tools/analysis_tools/benchmark_speed.py --img demo.jpg --repeats 30
"""
import argparse
import logging
import importlib.util
import os
import os.path as osp
import statistics
import time
from typing import Callable, Dict, List

import cv2
import numpy as np
import torch
from mmengine.logging import MMLogger

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
YOLOV8_CONFIG = 'configs/yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py'
YOLOV8_NAME = 'yolokit YOLOv8-n'
# display name -> shipped config of the small model of each family
BENCHMARKED = {
    YOLOV8_NAME: YOLOV8_CONFIG,
    'yolokit RTMDet-tiny':
    'configs/rtmdet/rtmdet_tiny_syncbn_fast_8xb32-300e_coco.py',
    'yolokit YOLOv6-n':
    'configs/yolov6/yolov6_n_syncbn_fast_8xb32-400e_coco.py',
    'yolokit YOLOv7-tiny':
    'configs/yolov7/yolov7_tiny_syncbn_fast_8x16b-300e_coco.py',
    'yolokit PP-YOLOE+-s':
    'configs/ppyoloe/ppyoloe_plus_s_fast_8xb8-80e_coco.py',
}
SCORE_THR, NMS_IOU, MAX_DET = 0.25, 0.7, 300


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--img', help='BGR image to run inference on (default: a synthetic '
        '768x576 image of shapes)')
    parser.add_argument('--repeats', type=int, default=20,
                        help='timed inference calls per model')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--train-batch', type=int, default=4)
    parser.add_argument('--train-steps', type=int, default=5)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch default)')
    parser.add_argument('--no-ultralytics', action='store_true',
                        help='skip the Ultralytics reference')
    return parser.parse_args()


def time_calls(fn: Callable[[], object], repeats: int,
               warmup: int) -> List[float]:
    """Wall time of each of ``repeats`` calls after ``warmup`` calls (ms)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def synthetic_image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((576, 768, 3), 120, np.uint8)
    for _ in range(8):
        x, y = rng.integers(40, 700), rng.integers(40, 520)
        r = int(rng.integers(15, 60))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(img, (int(x), int(y)), r, color, -1)
    return img


def load_yolov8_converter():
    path = osp.join(REPO, 'tools', 'model_converters', 'yolov8_to_yolokit.py')
    spec = importlib.util.spec_from_file_location('yolov8_to_yolokit', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_yolokit(config: str, state_dict: Dict = None):
    """A yolokit detector from a shipped config, with the benchmark's
    thresholds, ready for ``inference_detector``."""
    from mmdet.apis import init_detector
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.model.test_cfg.update(
        multi_label=False, score_thr=SCORE_THR, max_per_img=MAX_DET,
        nms=dict(type='nms', iou_threshold=NMS_IOU))
    model = init_detector(cfg, checkpoint=None, device='cpu')
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    else:
        # The heads' prior-probability bias init keeps random-weight scores
        # low, as in a trained model, so NMS does not dominate the timing.
        model.init_weights()
    return model.eval()


def yolokit_train_step(model, batch_size: int) -> Callable[[], None]:
    """One SGD step on a fixed synthetic batch in the "fast" data format."""
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, 256, (batch_size, 3, 640, 640),
                           dtype=torch.uint8, generator=gen)
    rows = []
    for i in range(batch_size):
        for j in range(6):
            x1, y1 = 40 + 90 * j, 60 + 70 * j
            rows.append([i, j % 3, x1, y1, x1 + 80 + 10 * j, y1 + 60])
    # PP-YOLOE's preprocessor batches a list of images itself (its collate
    # leaves them unstacked); the others take the stacked batch
    from yolokit.models.data_preprocessors import PPYOLOEDetDataPreprocessor
    list_inputs = isinstance(model.data_preprocessor,
                             PPYOLOEDetDataPreprocessor)
    model.data_preprocessor.batch_augments = None
    data = dict(
        inputs=list(inputs) if list_inputs else inputs,
        data_samples=dict(
            bboxes_labels=torch.tensor(rows, dtype=torch.float32),
            img_metas=[dict(batch_input_shape=(640, 640),
                            img_shape=(640, 640))] * batch_size))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        batch = model.data_preprocessor(data, True)
        losses = model(**batch, mode='loss')
        loss = sum(v.sum() for v in losses.values() if torch.is_tensor(v))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def ultralytics_train_step(det_model, batch_size: int) -> Callable[[], None]:
    import types
    gen = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (batch_size, 3, 640, 640),
                        dtype=torch.uint8, generator=gen).float() / 255
    idx, cls, boxes = [], [], []
    for i in range(batch_size):
        for j in range(6):
            x1, y1 = 40 + 90 * j, 60 + 70 * j
            w, h = 80 + 10 * j, 60
            idx.append(i)
            cls.append([j % 3])
            boxes.append([(x1 + w / 2) / 640, (y1 + h / 2) / 640, w / 640,
                          h / 640])
    batch = dict(img=img, batch_idx=torch.tensor(idx, dtype=torch.float32),
                 cls=torch.tensor(cls, dtype=torch.float32),
                 bboxes=torch.tensor(boxes, dtype=torch.float32))
    det_model.args = types.SimpleNamespace(box=7.5, cls=0.5, dfl=1.5)
    det_model.train()
    optimizer = torch.optim.SGD(det_model.parameters(), lr=1e-3,
                                momentum=0.9)

    def step():
        loss, _ = det_model.loss(batch)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()

    return step


def fmt(times: List[float]) -> str:
    return (f'median {statistics.median(times):7.1f} ms  '
            f'(min {min(times):.1f}, max {max(times):.1f})')


def main():
    args = parse_args()
    os.environ.setdefault('YOLO_OFFLINE', '1')
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmdet.apis import inference_detector

    from yolokit.utils import register_all_modules
    register_all_modules()
    # init_weights logs one line per parameter; keep the figures readable
    MMLogger.get_current_instance().setLevel(logging.WARNING)

    img = cv2.imread(args.img) if args.img else synthetic_image()
    if img is None:
        raise FileNotFoundError(f'--img {args.img}: cannot read the image')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'image {img.shape[1]}x{img.shape[0]}, thresholds: score '
          f'{SCORE_THR}, NMS IoU {NMS_IOU}, max {MAX_DET}')

    torch.manual_seed(0)
    yolov8_state = None
    ultra = None
    if not args.no_ultralytics:
        try:
            from ultralytics import YOLO
        except ImportError:
            print('ultralytics not installed: skipping the reference')
        else:
            ultra = YOLO('yolov8n.yaml', task='detect')
            converter = load_yolov8_converter()
            yolov8_state = converter.convert(ultra.model.state_dict())

    states = {YOLOV8_NAME: yolov8_state}
    models = {
        name: build_yolokit(cfg, states.get(name))
        for name, cfg in BENCHMARKED.items()
    }
    # Inference as with `--deploy`: re-parameterised (RepVGG blocks fused
    # into one conv), conv+BN fused.
    from yolokit.utils import switch_to_deploy
    deploy_models = {
        f'{name} (deploy)': switch_to_deploy(
            build_yolokit(cfg, states.get(name)))
        for name, cfg in BENCHMARKED.items()
    }

    print('\nInference latency, batch 1, image in memory -> boxes')
    latency = {}
    with torch.no_grad():
        for name, model in {**models, **deploy_models}.items():
            latency[name] = time_calls(
                lambda m=model: inference_detector(m, img), args.repeats,
                args.warmup)
            n = len(inference_detector(model, img).pred_instances)
            print(f'  {name:32s} {fmt(latency[name])}  [{n} boxes]')
    if ultra is not None:
        def predict():
            return ultra.predict(img, imgsz=640, conf=SCORE_THR, iou=NMS_IOU,
                                 max_det=MAX_DET, device='cpu',
                                 verbose=False)
        latency['Ultralytics YOLOv8n'] = time_calls(predict, args.repeats,
                                                    args.warmup)
        res = predict()[0]
        print(f'  {"Ultralytics YOLOv8n":32s} '
              f'{fmt(latency["Ultralytics YOLOv8n"])}  [{len(res.boxes)} '
              f'boxes; input {tuple(res.orig_shape)} letterboxed to its '
              'minimal rectangle, conv+BN fused]')
        for name in (YOLOV8_NAME, f'{YOLOV8_NAME} (deploy)'):
            ratio = (statistics.median(latency[name]) /
                     statistics.median(latency['Ultralytics YOLOv8n']))
            print(f'  {name} / Ultralytics YOLOv8n latency ratio: '
                  f'{ratio:.2f}')

    print(f'\nTraining step throughput, batch {args.train_batch} at 640x640 '
          '(forward + loss + backward + SGD; no data loading)')
    steps = {
        name: yolokit_train_step(model, args.train_batch)
        for name, model in models.items()
    }
    if ultra is not None:
        steps['Ultralytics YOLOv8n'] = ultralytics_train_step(
            ultra.model, args.train_batch)
    throughput = {}
    for name, step in steps.items():
        times = time_calls(step, args.train_steps, 1)
        throughput[name] = args.train_batch / (statistics.median(times) /
                                               1000)
        print(f'  {name:32s} {throughput[name]:6.2f} images/s  '
              f'({fmt(times)} per step)')
    if 'Ultralytics YOLOv8n' in throughput:
        print('  yolokit / Ultralytics YOLOv8n throughput ratio: '
              f'{throughput[YOLOV8_NAME] / throughput["Ultralytics YOLOv8n"]:.2f}'  # noqa: E501
              )


if __name__ == '__main__':
    main()
