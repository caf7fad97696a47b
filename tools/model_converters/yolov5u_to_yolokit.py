"""Convert an Ultralytics YOLOv5u detection checkpoint to yolokit.

YOLOv5u (``yolov5nu.pt`` ... ``yolov5xu.pt``, built from Ultralytics'
``yolov5.yaml`` scales) is the YOLOv5 v6.x network with its anchor-based
head swapped for the anchor-free YOLOv8 ``Detect``. Its checkpoint is one
flat ``nn.Sequential`` (``model.<index>.*``) whose layers 0-23 are laid out
exactly as in an official YOLOv5 P5 model, and whose layer 24 is the YOLOv8
``Detect``. So this converter adds no key table of its own: it maps

* layers 0-23 (``Conv``, ``C3``, ``SPPF``) with the YOLOv5 converter's
  layout rules (``yolov5_to_yolokit.py``): ``backbone`` is
  ``YOLOv5CSPDarknet``, ``neck`` is ``YOLOv5PAFPN``;
* the ``Detect`` layer with the YOLOv8 converter's renames
  (``yolov8_to_yolokit.py``): ``cv2``/``cv3`` become
  ``bbox_head.head_module.reg_preds``/``cls_preds``, and the fixed DFL
  projection is checked and dropped (``YOLOv8HeadModule`` rebuilds it).

``--src`` takes what the YOLOv8 converter takes: an Ultralytics checkpoint
with pickled model objects (needs the ``ultralytics`` package, and runs
code stored in the file: only convert files you trust), or a plain
state_dict of a ``DetectionModel``.

The result loads with ``strict=True`` into the model of
``configs/yolov5/yolov5u/yolov5u_<size>_syncbn_fast_8xb16-300e_coco.py``
(any ``num_classes``: set it in the config).

Example:
    python tools/model_converters/yolov5u_to_yolokit.py \\
        --src yolov5su.pt --dst yolokit_yolov5su.pth
"""
import argparse
import importlib.util
import os.path as osp
import re
import types
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from yolokit.utils.official_checkpoint import (
    check_conversion_paths, converter_arg_parser, naming_source,
    reject_converted_layout, save_converted_checkpoint, strip_wrapper_prefix)

_HERE = osp.dirname(osp.abspath(__file__))
_LAYER_KEY = re.compile(r'^model\.(\d+)\.(.+)$')


def _sibling_converter(name: str) -> types.ModuleType:
    """Another converter script of this folder (they are scripts, not a
    package, so they are loaded by path rather than imported)."""
    spec = importlib.util.spec_from_file_location(
        f'_yolokit_converter_{name}', osp.join(_HERE, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_yolov5 = _sibling_converter('yolov5_to_yolokit')
_yolov8 = _sibling_converter('yolov8_to_yolokit')
# Reading the file is the same as for YOLOv8: both come from Ultralytics.
load_ultralytics_checkpoint = _yolov8.load_ultralytics_checkpoint

# The YOLOv8 Detect, not YOLOv5's anchor-based one, at the YOLOv5 P5 index.
DETECT_INDEX = _yolov5.detect_layer_index('P5')


def build_layer_mapping() -> Dict[int, Tuple[str, str]]:
    """Map each YOLOv5u layer index to ``(yolokit module path, kind)``.

    ``kind`` is ``'conv'``, ``'c3'``, ``'sppf'`` or ``'detect'``; indices of
    parameter-free layers (``nn.Upsample``, ``Concat``) are absent.
    """
    mapping = _yolov5.build_layer_mapping('P5')
    mapping[DETECT_INDEX] = ('bbox_head.head_module', 'detect')
    return mapping


def _rename_in_layer(kind: str, sub_key: str) -> Optional[str]:
    if kind == 'detect':
        return _yolov8._rename_in_layer('detect', sub_key)
    return _yolov5._rename_in_layer(kind, sub_key)


def _layout_hint(state_dict: Dict[str, torch.Tensor]) -> str:
    """Name the right converter for the two look-alike layouts."""
    if f'model.{DETECT_INDEX}.m.0.weight' in state_dict:
        return (' It looks like an official (anchor-based) YOLOv5 '
                'checkpoint: convert it with yolov5_to_yolokit.py.')
    if 'model.22.dfl.conv.weight' in state_dict:
        return (' It looks like a YOLOv8 checkpoint: convert it with '
                'yolov8_to_yolokit.py.')
    return ''


def convert(src_state_dict: Dict[str, torch.Tensor],
            to_float: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an Ultralytics YOLOv5u state_dict to yolokit's key layout.

    Args:
        src_state_dict (dict[str, Tensor]): State dict of an Ultralytics
            YOLOv5u ``DetectionModel`` (keys ``model.<index>.<...>``).
        to_float (bool): Cast floating tensors (released checkpoints are
            half precision) to float32. Defaults to True.

    Returns:
        OrderedDict[str, Tensor]: The yolokit state_dict.

    Raises:
        ValueError: On keys outside the YOLOv5u P5 layout, on layers of
            that layout missing from the checkpoint, or on a DFL projection
            that is not ``arange(reg_max)``.
    """
    state_dict = strip_wrapper_prefix(dict(src_state_dict))
    mapping = build_layer_mapping()
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    misfits: List[str] = []
    layers_seen = set()
    for key, value in state_dict.items():
        match = _LAYER_KEY.match(key)
        index = int(match.group(1)) if match else None
        if index not in mapping:
            misfits.append(key)
            continue
        target, kind = mapping[index]
        sub_key = match.group(2)
        layers_seen.add(index)
        if kind == 'detect' and sub_key == _yolov8._DFL_KEY:
            _yolov8._check_dfl_projection(value)
            continue
        new_sub_key = _rename_in_layer(kind, sub_key)
        if new_sub_key is None:
            misfits.append(key)
            continue
        if to_float and torch.is_tensor(value) and value.is_floating_point():
            value = value.float()
        converted[f'{target}.{new_sub_key}'] = value

    missing = sorted(set(mapping) - layers_seen)
    if misfits or missing:
        shown = ', '.join(misfits[:10])
        more = f' (and {len(misfits) - 10} more)' if len(misfits) > 10 else ''
        raise ValueError(
            'The keys do not form the YOLOv5u P5 detection layout (YOLOv5 '
            f'v6.x layers 0-{DETECT_INDEX - 1}, YOLOv8 Detect at '
            f'{DETECT_INDEX}): {len(misfits)} key(s) do not fit'
            f'{": " + shown + more if misfits else ""}; layers without '
            f'parameters in the checkpoint: {missing or "none"}.'
            f'{_layout_hint(state_dict)}')
    return converted


def parse_args() -> argparse.Namespace:
    return converter_arg_parser(
        'Convert an Ultralytics YOLOv5u detection checkpoint to a '
        'yolokit checkpoint.', 'yolov5su.pt', 'yolokit_yolov5su.pth',
        'Ultralytics YOLOv5u checkpoint path').parse_args()


def main() -> None:
    args = parse_args()
    check_conversion_paths(args.src, args.dst)
    src_state_dict = load_ultralytics_checkpoint(args.src)
    reject_converted_layout(src_state_dict, args.src)
    with naming_source(args.src,
                       'an Ultralytics YOLOv5u detection checkpoint'):
        state_dict = convert(src_state_dict, to_float=not args.keep_half)
    save_converted_checkpoint(state_dict, args.src, args.dst, 'YOLOv5u')


if __name__ == '__main__':
    main()
