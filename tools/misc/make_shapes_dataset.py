"""Generate the "shapes" toy detection dataset in COCO format.

A deterministic, self-contained dataset that a small detector can learn on a
CPU in minutes: circles, squares and triangles of varied size, colour and
rotation on textured, cluttered backgrounds. It is what the README's main job
trains on, and what the end-to-end tests use.

Layout (under ``--out-dir``, default ``data/shapes``)::

    annotations/instances_train.json
    annotations/instances_val.json
    annotations/instances_test.json   # held-out images for the demo
    train/ val/ test/                 # JPEG images

Example:
    python tools/misc/make_shapes_dataset.py --out-dir data/shapes
"""
import argparse
import json
import math
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

CLASSES = ('circle', 'square', 'triangle')
# Part of the dataset's identity: changing any of these changes the images.
DEFAULT_SPLITS = (('train', 400), ('val', 100), ('test', 8))
FORMAT_VERSION = 1


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth colour gradient with noise and a few distractor strokes."""
    c0 = rng.uniform(40, 215, size=3)
    c1 = rng.uniform(40, 215, size=3)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * math.cos(angle) + yy * math.sin(angle))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    img += rng.normal(0, 8, size=img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 6))):
        p0 = tuple(int(v) for v in rng.integers(0, [w, h]))
        p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
        color = tuple(int(v) for v in rng.integers(0, 256, size=3))
        cv2.line(img, p0, p1, color, int(rng.integers(1, 4)), cv2.LINE_AA)
    return img


def _shape_polygon(rng: np.random.Generator, label: int, cx: float, cy: float,
                   size: float) -> np.ndarray:
    """Outline of one object as an ``(N, 2)`` float polygon."""
    if label == 0:  # circle (as a fine polygon, for a tight box and mask)
        theta = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        r = size / 2
        return np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], 1)
    rot = rng.uniform(0, 2 * math.pi)
    if label == 1:  # square
        theta = rot + np.arange(4) * math.pi / 2
        r = size / 2 * math.sqrt(2) * 0.8
    else:  # equilateral triangle
        theta = rot + np.arange(3) * 2 * math.pi / 3
        r = size / 2 * 1.1
    return np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], 1)


def _iou(a: List[float], b: List[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) -
             inter)
    return inter / union if union > 0 else 0.0


def render_image(rng: np.random.Generator, h: int,
                 w: int) -> Tuple[np.ndarray, List[Dict]]:
    """Draw one image; return it (BGR) and its object annotations."""
    img = _background(rng, h, w)
    objects: List[Dict] = []
    boxes: List[List[float]] = []
    for _ in range(int(rng.integers(1, 6))):
        for _attempt in range(20):
            label = int(rng.integers(0, len(CLASSES)))
            size = float(rng.uniform(0.09, 0.32) * min(h, w))
            cx = float(rng.uniform(size / 2, w - size / 2))
            cy = float(rng.uniform(size / 2, h - size / 2))
            poly = _shape_polygon(rng, label, cx, cy, size)
            poly[:, 0] = np.clip(poly[:, 0], 0, w - 1)
            poly[:, 1] = np.clip(poly[:, 1], 0, h - 1)
            x1, y1 = poly.min(0)
            x2, y2 = poly.max(0)
            box = [float(x1), float(y1), float(x2), float(y2)]
            if all(_iou(box, other) < 0.05 for other in boxes):
                break
        else:
            continue
        # keep the object distinguishable from its local background
        color = rng.integers(0, 256, size=3)
        local = img[int(y1):int(y2) + 1, int(x1):int(x2) + 1].reshape(-1, 3)
        if np.abs(color - local.mean(0)).sum() < 150:
            color = 255 - local.mean(0)
        pts = np.round(poly).astype(np.int32)
        cv2.fillPoly(img, [pts], tuple(int(c) for c in color), cv2.LINE_AA)
        boxes.append(box)
        objects.append(dict(label=label, bbox=box, polygon=poly))
    return img, objects


def make_split(out_dir: str, split: str, num_images: int, seed: int,
               img_size: Tuple[int, int]) -> Dict:
    """Render one split and return its COCO dict."""
    rng = np.random.default_rng(seed)
    h, w = img_size
    os.makedirs(osp.join(out_dir, split), exist_ok=True)
    images, annotations = [], []
    for img_id in range(num_images):
        img, objects = render_image(rng, h, w)
        file_name = f'{split}_{img_id:05d}.jpg'
        cv2.imwrite(
            osp.join(out_dir, split, file_name), img,
            [cv2.IMWRITE_JPEG_QUALITY, 92])
        images.append(dict(id=img_id, file_name=file_name, height=h, width=w))
        for obj in objects:
            x1, y1, x2, y2 = obj['bbox']
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=obj['label'] + 1,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=float(cv2.contourArea(
                        obj['polygon'].astype(np.float32))),
                    segmentation=[obj['polygon'].reshape(-1).round(2).tolist()],
                    iscrowd=0))
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(CLASSES)
    ]
    return dict(
        info=dict(description='yolokit shapes toy dataset',
                  version=FORMAT_VERSION, seed=seed),
        images=images,
        annotations=annotations,
        categories=categories)


def make_shapes_dataset(out_dir: str,
                        splits=DEFAULT_SPLITS,
                        seed: int = 0,
                        img_size: Tuple[int, int] = (320, 320),
                        force: bool = False) -> Dict[str, str]:
    """Create the dataset unless an identical one is already there.

    Args:
        out_dir (str): Output folder.
        splits: ``(name, num_images)`` pairs.
        seed (int): Base random seed; split ``i`` uses ``seed + i``.
        img_size (tuple): ``(height, width)`` of every image.
        force (bool): Regenerate even if the dataset exists.

    Returns:
        dict: split name -> annotation file path.
    """
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    ann_files = {}
    for i, (split, num) in enumerate(splits):
        ann_file = osp.join(ann_dir, f'instances_{split}.json')
        ann_files[split] = ann_file
        expected = dict(description='yolokit shapes toy dataset',
                        version=FORMAT_VERSION, seed=seed + i)
        if not force and osp.isfile(ann_file):
            with open(ann_file) as f:
                existing = json.load(f)
            complete = (existing.get('info') == expected
                        and len(existing['images']) == num and all(
                            osp.isfile(osp.join(out_dir, split, im['file_name']))
                            for im in existing['images'])
                        and all(im['height'] == img_size[0]
                                and im['width'] == img_size[1]
                                for im in existing['images']))
            if complete:
                continue
        coco = make_split(out_dir, split, num, seed + i, img_size)
        with open(ann_file, 'w') as f:
            json.dump(coco, f)
    return ann_files


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='data/shapes')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--num-train', type=int, default=dict(DEFAULT_SPLITS)['train'])
    parser.add_argument(
        '--num-val', type=int, default=dict(DEFAULT_SPLITS)['val'])
    parser.add_argument(
        '--num-test', type=int, default=dict(DEFAULT_SPLITS)['test'])
    parser.add_argument(
        '--img-size', type=int, nargs=2, default=[320, 320],
        metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the dataset exists')
    return parser.parse_args()


def main():
    args = parse_args()
    splits = (('train', args.num_train), ('val', args.num_val),
              ('test', args.num_test))
    files = make_shapes_dataset(args.out_dir, splits, args.seed,
                                tuple(args.img_size), args.force)
    for split, path in files.items():
        with open(path) as f:
            coco = json.load(f)
        print(f'{split}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} objects -> {path}')


if __name__ == '__main__':
    main()
