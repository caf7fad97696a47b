"""Convert an MMDetection (3.x) RTMDet checkpoint to yolokit's layout.

MMDetection's ``RTMDet`` and yolokit's ``YOLODetector`` + ``CSPNeXt`` +
``CSPNeXtPAFPN`` + ``RTMDetHead`` compute the same network, but name some
modules differently:

* backbone: identical keys. (MMDetection's last stage has an ``SPPBottleneck``
  with parallel 5/9/13 max-pools, yolokit an ``SPPFBottleneck`` with three
  chained 5x5 max-pools; both have ``conv1``/``conv2`` with the same shapes
  and compute the same function.)
* neck, for ``L`` levels (``L = 3`` for P5):

  ================================  =======================================
  MMDetection ``CSPNeXtPAFPN``      yolokit ``CSPNeXtPAFPN``
  ================================  =======================================
  ``reduce_layers.0``               ``reduce_layers.{L-1}``
  ``reduce_layers.k`` (k >= 1)      ``top_down_layers.{k-1}.1``
  ``top_down_blocks.k`` (k < L-2)   ``top_down_layers.k.0``
  ``top_down_blocks.{L-2}``         ``top_down_layers.{L-2}``
  ``downsamples.k``                 ``downsample_layers.k``
  ``bottom_up_blocks.k``            ``bottom_up_layers.k``
  ``out_convs.k``                   ``out_layers.k``
  ================================  =======================================

  (MMDetection applies its k-th reduce conv to the output of the previous
  top-down block; yolokit appends that conv to the block instead.)
* head: ``bbox_head.<name>`` becomes ``bbox_head.head_module.<name>`` for
  ``cls_convs``, ``reg_convs``, ``rtm_cls`` and ``rtm_reg``.
* ``data_preprocessor.*`` entries are dropped (yolokit's preprocessor has
  no state).

Caveat: yolokit's head (like MMYOLO's) predicts distances linearly,
``rtm_reg(x) * stride``. MMDetection's ``exp_on_reg=True`` heads (its m/l/x
configs) use ``exp(rtm_reg(x)) * stride``: their converted weights load but
do not give the same boxes. MMDetection's tiny and s configs use
``exp_on_reg=False`` and convert exactly. Objectness heads
(``with_objectness=True``) are not supported.

Example:
    python tools/model_converters/rtmdet_to_yolokit.py \\
        --src rtmdet_tiny_8xb32-300e_coco.pth --dst rtmdet_tiny_yolokit.pth
"""
import argparse
import re
from collections import OrderedDict
from typing import Dict, Mapping

import torch
from mmengine.logging import print_log

from yolokit.utils.checkpoint_safety import (load_weights_only,
                                             register_checkpoint_globals)
from yolokit.utils.official_checkpoint import (check_conversion_paths,
                                               naming_source,
                                               reject_converted_layout)

_HEAD_MODULES = ('cls_convs', 'rtm_cls', 'reg_convs', 'rtm_reg')
_NECK_KEY = re.compile(
    r'^neck\.(reduce_layers|top_down_blocks|downsamples|bottom_up_blocks|'
    r'out_convs)\.(\d+)\.(.+)$')
_NECK_RENAMES = {
    'downsamples': 'downsample_layers',
    'bottom_up_blocks': 'bottom_up_layers',
    'out_convs': 'out_layers',
}


def _neck_levels(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Number of neck levels: one out conv per level."""
    indices = {
        int(m.group(2))
        for m in map(_NECK_KEY.match, state_dict)
        if m is not None and m.group(1) == 'out_convs'
    }
    if not indices:
        raise KeyError('The checkpoint has no "neck.out_convs.*" entries; it '
                       'is not an MMDetection RTMDet (CSPNeXtPAFPN) model.')
    return max(indices) + 1


def convert_key(key: str, num_levels: int = 3) -> str:
    """yolokit's name of one MMDetection RTMDet state_dict key.

    Args:
        key (str): MMDetection key, e.g.
            ``'neck.reduce_layers.0.conv.weight'``.
        num_levels (int): Number of neck levels (3 for P5 models).

    Returns:
        str: The yolokit key.

    Raises:
        KeyError: For keys with no yolokit counterpart (e.g. the objectness
            predictor ``bbox_head.rtm_obj``).
    """
    if key.startswith('backbone.'):
        return key
    match = _NECK_KEY.match(key)
    if match is not None:
        kind, index, rest = match.group(1), int(match.group(2)), match.group(3)
        if kind == 'reduce_layers':
            if index == 0:
                return f'neck.reduce_layers.{num_levels - 1}.{rest}'
            return f'neck.top_down_layers.{index - 1}.1.{rest}'
        if kind == 'top_down_blocks':
            if index < num_levels - 2:
                return f'neck.top_down_layers.{index}.0.{rest}'
            return f'neck.top_down_layers.{index}.{rest}'
        return f'neck.{_NECK_RENAMES[kind]}.{index}.{rest}'
    if key.startswith('bbox_head.'):
        name = key[len('bbox_head.'):]
        if name.split('.', 1)[0] in _HEAD_MODULES:
            return f'bbox_head.head_module.{name}'
    raise KeyError(f'No yolokit counterpart for the MMDetection RTMDet key '
                   f'"{key}" (objectness heads are not supported)')


def convert_state_dict(
        state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename all keys of an MMDetection RTMDet state_dict for yolokit.

    Args:
        state_dict (Mapping[str, Tensor]): The ``state_dict`` of an
            MMDetection ``RTMDet`` model.

    Returns:
        OrderedDict[str, Tensor]: The same tensors under yolokit's keys;
        ``data_preprocessor.*`` entries are dropped.
    """
    num_levels = _neck_levels(state_dict)
    converted = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('data_preprocessor.'):
            continue
        new_key = convert_key(key, num_levels)
        if new_key in converted:
            raise KeyError(f'Two MMDetection keys map to "{new_key}"')
        converted[new_key] = value
    return converted


def convert(src: str, dst: str) -> None:
    """Convert the checkpoint file ``src`` and save it to ``dst``."""
    # weights_only: a checkpoint must not run code when loaded; MMEngine's
    # message hub and meta objects are allow-listed
    register_checkpoint_globals()
    check_conversion_paths(src, dst)
    checkpoint = load_weights_only(src)
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{src} does not hold a dict but a '
                        f'{type(checkpoint).__name__}')
    state_dict = checkpoint.get('state_dict', checkpoint)
    reject_converted_layout(state_dict, src)
    with naming_source(src, 'an MMDetection RTMDet checkpoint'):
        converted = convert_state_dict(state_dict)
    print_log(
        f'Converted {len(converted)} tensors of {src}', logger='current')
    torch.save(dict(state_dict=converted), dst)


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Convert an MMDetection RTMDet checkpoint to yolokit')
    parser.add_argument('--src', required=True, help='MMDetection checkpoint')
    parser.add_argument('--dst', required=True, help='output path')
    args = parser.parse_args()
    convert(args.src, args.dst)


if __name__ == '__main__':
    main()
