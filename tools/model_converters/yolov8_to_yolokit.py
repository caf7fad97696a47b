"""Convert an Ultralytics YOLOv8 detection checkpoint to yolokit.

Ultralytics stores the network as one flat ``nn.Sequential``
(``model.<index>.*``) built from ``yolov8.yaml``; yolokit splits the same
network into ``backbone`` (``YOLOv8CSPDarknet``), ``neck``
(``YOLOv8PAFPN``) and ``bbox_head`` (``YOLOv8Head``). The converter reads
the kind of every layer from its keys (``Conv``, ``C2f``, ``SPPF``,
``Detect``), checks that the sequence is the YOLOv8 P5 detection layout and
maps each layer by its position in that layout, so no per-key table is
needed:

* backbone: stem ``Conv``, then per stage a stride-2 ``Conv`` and a ``C2f``
  (``backbone.stage<s>.0`` / ``.1``), ``SPPF`` closing the last stage;
* neck: the top-down ``C2f`` layers (``neck.top_down_layers.<i>``), then
  per bottom-up step a stride-2 ``Conv`` and a ``C2f``
  (``neck.downsample_layers.<i>``, ``neck.bottom_up_layers.<i>``);
* ``Detect``: box branches ``cv2.<level>`` become
  ``bbox_head.head_module.reg_preds.<level>``, class branches ``cv3`` become
  ``cls_preds``; the fixed DFL projection conv (``dfl.conv.weight``) is
  dropped, yolokit rebuilds it as the ``proj`` buffer.

Inputs accepted by ``--src``:

* an Ultralytics checkpoint (``{'model': DetectionModel, 'ema': ...}`` with
  pickled model objects, usually half precision). Unpickling needs the
  ``ultralytics`` package; it runs code stored in the file, so only convert
  checkpoints from sources you trust;
* a plain state_dict of a ``DetectionModel`` (``model.state_dict()``), or a
  ``{'state_dict': ...}`` / ``{'model': state_dict}`` dict of one. This path
  does not need ``ultralytics``.

The result loads with ``strict=True`` into the model of the matching
``configs/yolov8/yolov8_<size>_syncbn_fast_8xb16-500e_coco.py`` (any
``num_classes``: set it in the config).

Example:
    python tools/model_converters/yolov8_to_yolokit.py \\
        --src yolov8s.pt --dst yolokit_yolov8s.pth
"""
import argparse
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log

from yolokit.utils.checkpoint_safety import (CheckpointRefusedError,
                                             load_weights_only)
from yolokit.utils.official_checkpoint import (
    check_conversion_paths, converter_arg_parser, extract_state_dict,
    naming_source, reject_converted_layout, save_converted_checkpoint,
    strip_wrapper_prefix)

_LAYER_KEY = re.compile(r'^model\.(\d+)\.(.+)$')

# Renames inside one layer, by layer kind. Ultralytics ``C2f`` is
# ``cv2(cat(split(cv1(x)) + [m_k(...)]))``, i.e. CSPLayerWithTwoConv's
# ``final_conv(cat(split(main_conv(x)) + [blocks_k(...)]))``; its
# ``Bottleneck`` ``cv1``/``cv2`` are DarknetBottleneck ``conv1``/``conv2``.
_C2F_RENAMES = (
    (re.compile(r'^cv1\.'), 'main_conv.'),
    (re.compile(r'^cv2\.'), 'final_conv.'),
    (re.compile(r'^m\.(\d+)\.cv1\.'), r'blocks.\1.conv1.'),
    (re.compile(r'^m\.(\d+)\.cv2\.'), r'blocks.\1.conv2.'),
)
_SPPF_RENAMES = (
    (re.compile(r'^cv1\.'), 'conv1.'),
    (re.compile(r'^cv2\.'), 'conv2.'),
)
# Ultralytics ``Conv`` (conv + bn + act) has ConvModule's child names.
_CONV_RENAMES = ((re.compile(r'^(conv|bn)\.'), r'\1.'), )
# Detect branches: Sequential(Conv, Conv, Conv2d) in both layouts.
_DETECT_RENAMES = (
    (re.compile(r'^cv2\.(\d+)\.([01])\.(conv|bn)\.'), r'reg_preds.\1.\2.\3.'),
    (re.compile(r'^cv2\.(\d+)\.2\.(weight|bias)$'), r'reg_preds.\1.2.\2'),
    (re.compile(r'^cv3\.(\d+)\.([01])\.(conv|bn)\.'), r'cls_preds.\1.\2.\3.'),
    (re.compile(r'^cv3\.(\d+)\.2\.(weight|bias)$'), r'cls_preds.\1.2.\2'),
)
_RENAMES = {
    'conv': _CONV_RENAMES,
    'c2f': _C2F_RENAMES,
    'sppf': _SPPF_RENAMES,
    'detect': _DETECT_RENAMES,
}
_DFL_KEY = 'dfl.conv.weight'


def layer_kind(sub_keys: List[str]) -> str:
    """Tell the kind of an Ultralytics layer from its state_dict keys.

    Args:
        sub_keys (list[str]): The layer's keys without ``model.<index>.``.

    Returns:
        str: ``'conv'``, ``'c2f'``, ``'sppf'`` or ``'detect'``.

    Raises:
        ValueError: For any other layer (e.g. ``C3``, ``C3k2``, attention
            blocks of later YOLO versions).
    """
    keys = set(sub_keys)
    if any(k.startswith(('cv2.', 'cv3.'))
           for k in keys) and any(k.startswith('dfl.') for k in keys):
        return 'detect'
    if 'conv.weight' in keys and all(
            k.startswith(('conv.', 'bn.')) for k in keys):
        return 'conv'
    if all(k.startswith(('cv1.', 'cv2.', 'm.')) for k in keys):
        has_blocks = any(k.startswith('m.') for k in keys)
        # A C2f's cv1 makes 2 * c channels that all feed cv2 with the block
        # outputs; SPPF has no learnable ``m`` (it is a max-pooling).
        return 'c2f' if has_blocks else 'sppf'
    raise ValueError('Not a YOLOv8 layer (Conv, C2f, SPPF or Detect); its '
                     f'keys are {sorted(keys)[:8]}')


def build_layer_mapping(kinds: Dict[int, str]) -> Dict[int, Tuple[str, str]]:
    """Map Ultralytics layer indices to yolokit module paths.

    Args:
        kinds (dict[int, str]): Kind of every layer with parameters, by
            index, see :func:`layer_kind`.

    Returns:
        dict[int, tuple[str, str]]: ``index -> (yolokit path, kind)``.

    Raises:
        ValueError: If the layers do not form the YOLOv8 P5 layout.
    """
    indices = sorted(kinds)
    sequence = [kinds[i] for i in indices]
    # P5: 4 backbone stages, 3 output levels.
    num_stages, num_levels = 4, 3
    expected = (['conv'] + ['conv', 'c2f'] * num_stages + ['sppf'] + ['c2f'] *
                (num_levels - 1) + ['conv', 'c2f'] * (num_levels - 1) +
                ['detect'])
    if sequence != expected:
        raise ValueError(
            'The checkpoint does not have the YOLOv8 P5 detection layout '
            f'(yolov8.yaml). Layers with parameters, in order: {sequence}; '
            f'expected {expected}.')
    paths = ['backbone.stem']
    for stage in range(1, num_stages + 1):
        paths += [f'backbone.stage{stage}.0', f'backbone.stage{stage}.1']
    paths.append(f'backbone.stage{num_stages}.2')
    paths += [f'neck.top_down_layers.{i}' for i in range(num_levels - 1)]
    for i in range(num_levels - 1):
        paths += [f'neck.downsample_layers.{i}', f'neck.bottom_up_layers.{i}']
    paths.append('bbox_head.head_module')
    return {
        index: (path, kind)
        for index, path, kind in zip(indices, paths, sequence)
    }


def _rename_in_layer(kind: str, sub_key: str) -> Optional[str]:
    for pattern, repl in _RENAMES[kind]:
        new_key, count = pattern.subn(repl, sub_key, count=1)
        if count:
            return new_key
    return None


def _check_dfl_projection(weight: torch.Tensor) -> None:
    """The DFL conv must hold 0, 1, ..., reg_max - 1 (yolokit's ``proj``)."""
    expected = torch.arange(weight.numel(), dtype=torch.float32)
    if not torch.equal(weight.float().flatten(), expected):
        raise ValueError(
            f'{_DFL_KEY} is expected to be arange(reg_max) (fixed DFL '
            'integral), but it holds other values; yolokit cannot represent '
            'a learned projection.')


def convert(src_state_dict: Dict[str, torch.Tensor],
            to_float: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an Ultralytics YOLOv8 state_dict to yolokit's key layout.

    Args:
        src_state_dict (dict[str, Tensor]): State dict of an Ultralytics
            ``DetectionModel`` (keys ``model.<index>.<...>``).
        to_float (bool): Cast floating tensors (released checkpoints are
            half precision) to float32. Defaults to True.

    Returns:
        OrderedDict[str, Tensor]: The yolokit state_dict.

    Raises:
        ValueError: On keys or layers outside the YOLOv8 P5 layout.
    """
    state_dict = strip_wrapper_prefix(dict(src_state_dict))
    by_layer: Dict[int, List[str]] = {}
    unknown: List[str] = []
    for key in state_dict:
        match = _LAYER_KEY.match(key)
        if match is None:
            unknown.append(key)
            continue
        by_layer.setdefault(int(match.group(1)), []).append(match.group(2))
    if unknown:
        raise ValueError(
            f'{len(unknown)} key(s) are not "model.<index>.<name>" keys of '
            f'an Ultralytics DetectionModel: {unknown[:10]}')

    kinds = {}
    for index, sub_keys in by_layer.items():
        try:
            kinds[index] = layer_kind(sub_keys)
        except ValueError as e:
            raise ValueError(f'Layer model.{index}: {e}') from e
    mapping = build_layer_mapping(kinds)

    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in state_dict.items():
        match = _LAYER_KEY.match(key)
        index, sub_key = int(match.group(1)), match.group(2)
        target, kind = mapping[index]
        if kind == 'detect' and sub_key == _DFL_KEY:
            _check_dfl_projection(value)
            continue
        new_sub_key = _rename_in_layer(kind, sub_key)
        if new_sub_key is None:
            unknown.append(key)
            continue
        if to_float and torch.is_tensor(value) and value.is_floating_point():
            value = value.float()
        converted[f'{target}.{new_sub_key}'] = value
    if unknown:
        raise ValueError(
            f'{len(unknown)} key(s) do not fit their YOLOv8 layer: '
            f'{unknown[:10]}. (Only the original YOLOv8 Detect head, with '
            'plain 3x3 conv class branches, is supported.)')
    return converted


# ---------------------------------------------------------------------------
# loading Ultralytics checkpoints
# ---------------------------------------------------------------------------
def load_ultralytics_checkpoint(src: str) -> Dict[str, torch.Tensor]:
    """Load the state_dict of an Ultralytics YOLOv8 checkpoint file.

    Plain state_dicts load with ``weights_only=True``; only a file holding
    pickled model objects falls back to full unpickling, which needs the
    ``ultralytics`` package. A file that is no checkpoint at all raises
    :class:`~yolokit.utils.checkpoint_safety.UnreadableCheckpointError`.
    """
    try:
        obj = load_weights_only(src)
    except CheckpointRefusedError:
        try:
            import ultralytics  # noqa: F401
        except ImportError as e:
            raise ImportError(
                f'{src} holds pickled Ultralytics model objects; unpickling '
                'them needs the "ultralytics" package (pip install '
                'ultralytics), or pass a plain state_dict saved with '
                'torch.save(model.state_dict(), ...).') from e
        print_log(
            f'{src} holds pickled Python objects (an Ultralytics '
            'checkpoint); unpickling it with the ultralytics classes.',
            logger='current')
        obj = torch.load(src, map_location='cpu', weights_only=False)
    return extract_state_dict(obj, src)


def parse_args() -> argparse.Namespace:
    return converter_arg_parser(
        'Convert an Ultralytics YOLOv8 detection checkpoint to a '
        'yolokit checkpoint.', 'yolov8s.pt', 'yolokit_yolov8s.pth',
        'Ultralytics checkpoint path').parse_args()


def main() -> None:
    args = parse_args()
    check_conversion_paths(args.src, args.dst)
    src_state_dict = load_ultralytics_checkpoint(args.src)
    reject_converted_layout(src_state_dict, args.src)
    with naming_source(args.src, 'an Ultralytics YOLOv8 detection checkpoint'):
        state_dict = convert(src_state_dict, to_float=not args.keep_half)
    save_converted_checkpoint(state_dict, args.src, args.dst, 'YOLOv8')


if __name__ == '__main__':
    main()
