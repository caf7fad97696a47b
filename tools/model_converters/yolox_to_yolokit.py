"""Convert an official YOLOX (Megvii) checkpoint to yolokit's layout.

The official ``YOLOX`` model is ``backbone`` (``YOLOPAFPN``, which holds
the ``CSPDarknet`` as ``backbone.backbone``) + ``head`` (``YOLOXHead``).
yolokit (like MMYOLO) splits the same network into ``backbone``
(``YOLOXCSPDarknet``), ``neck`` (``YOLOXPAFPN``) and ``bbox_head``
(``YOLOXHead`` + ``YOLOXHeadModule``). Module by module:

================================  =========================================
official YOLOX                    yolokit
================================  =========================================
``backbone.backbone.stem``        ``backbone.stem`` (Focus)
``backbone.backbone.dark{k}.0``   ``backbone.stage{k-1}.0`` (stride-2 conv)
``backbone.backbone.dark{k}.1``   ``backbone.stage{k-1}.1`` (CSP, k = 2..4)
``backbone.backbone.dark5.1``     ``backbone.stage4.1`` (SPP)
``backbone.backbone.dark5.2``     ``backbone.stage4.2`` (CSP)
``backbone.lateral_conv0``        ``neck.reduce_layers.2``
``backbone.C3_p4``                ``neck.top_down_layers.0.0``
``backbone.reduce_conv1``         ``neck.top_down_layers.0.1``
``backbone.C3_p3``                ``neck.top_down_layers.1``
``backbone.bu_conv2``, ``..1``    ``neck.downsample_layers.0``, ``.1``
``backbone.C3_n3``, ``C3_n4``     ``neck.bottom_up_layers.0``, ``.1``
``head.stems.{i}``                ``neck.out_layers.{i}``
``head.cls_convs.{i}``            ``<module>.multi_level_cls_convs.{i}``
``head.reg_convs.{i}``            ``<module>.multi_level_reg_convs.{i}``
``head.cls_preds.{i}``            ``<module>.multi_level_conv_cls.{i}``
``head.reg_preds.{i}``            ``<module>.multi_level_conv_reg.{i}``
``head.obj_preds.{i}``            ``<module>.multi_level_conv_obj.{i}``
================================  =========================================

(``<module>`` is ``bbox_head.head_module``.)

Inside the modules: ``BaseConv`` (``conv``, ``bn``) keeps its names,
``DWConv`` ``dconv``/``pconv`` become ``depthwise_conv``/``pointwise_conv``,
``CSPLayer`` ``conv1``/``conv2``/``conv3``/``m.{j}`` become
``main_conv``/``short_conv``/``final_conv``/``blocks.{j}``, and the SPP keeps
``conv1``/``conv2``.

Supported: YOLOX-s/m/l/x and YOLOX-tiny (the result loads with
``strict=True`` into the model of ``configs/yolox/yolox_<size>_fast_*.py``;
set ``num_classes`` in the config for non-COCO checkpoints). Not supported:

* YOLOX-nano: its CSP blocks use depthwise-separable 3x3 convs, whereas
  MMYOLO's (and yolokit's) YOLOX-nano keeps dense 3x3 convs there, so the
  layouts differ; the converter raises a ValueError.
* YOLOv3 (Darknet-53) and other non-CSPDarknet backbones of the YOLOX repo.

Note: the official exps set every BatchNorm to ``eps=1e-3,
momentum=0.03``, the values of yolokit's YOLOX configs, so the converted
model computes the same outputs. The official head's inference output is
``(x_c, y_c, w, h, sigmoid(obj), sigmoid(cls)...)`` per prior, yolokit's
head returns the raw logits and deltas; the boxes are decoded identically
(``(delta + grid) * stride``, ``exp(delta) * stride``).

Example:
    python tools/model_converters/yolox_to_yolokit.py \\
        --src yolox_s.pth --dst yolokit_yolox_s.pth
"""
import argparse
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from yolokit.utils.checkpoint_safety import (CheckpointRefusedError,
                                             load_weights_only)
from yolokit.utils.official_checkpoint import (
    check_conversion_paths, converter_arg_parser, extract_state_dict,
    naming_source, reject_converted_layout, save_converted_checkpoint,
    strip_wrapper_prefix)

# (pattern on the official key, yolokit prefix, kind of the module).
# A ``{n}`` in the prefix takes the first group of the pattern; kinds say
# how the rest of the key is renamed.
_PREFIXES: Tuple[Tuple[re.Pattern, str, str], ...] = tuple(
    (re.compile(pattern), prefix, kind) for pattern, prefix, kind in (
        (r'^backbone\.backbone\.stem\.(.+)$', 'backbone.stem.', 'focus'),
        (r'^backbone\.backbone\.dark([2-5])\.0\.(.+)$',
         'backbone.stage{n-1}.0.', 'conv'),
        (r'^backbone\.backbone\.dark([2-4])\.1\.(.+)$',
         'backbone.stage{n-1}.1.', 'csp'),
        (r'^backbone\.backbone\.dark5\.1\.(.+)$', 'backbone.stage4.1.', 'spp'),
        (r'^backbone\.backbone\.dark5\.2\.(.+)$', 'backbone.stage4.2.', 'csp'),
        (r'^backbone\.lateral_conv0\.(.+)$', 'neck.reduce_layers.2.', 'conv'),
        (r'^backbone\.C3_p4\.(.+)$', 'neck.top_down_layers.0.0.', 'csp'),
        (r'^backbone\.reduce_conv1\.(.+)$', 'neck.top_down_layers.0.1.',
         'conv'),
        (r'^backbone\.C3_p3\.(.+)$', 'neck.top_down_layers.1.', 'csp'),
        (r'^backbone\.bu_conv2\.(.+)$', 'neck.downsample_layers.0.', 'conv'),
        (r'^backbone\.C3_n3\.(.+)$', 'neck.bottom_up_layers.0.', 'csp'),
        (r'^backbone\.bu_conv1\.(.+)$', 'neck.downsample_layers.1.', 'conv'),
        (r'^backbone\.C3_n4\.(.+)$', 'neck.bottom_up_layers.1.', 'csp'),
        (r'^head\.stems\.(\d+)\.(.+)$', 'neck.out_layers.{n}.', 'conv'),
        (r'^head\.cls_convs\.(\d+\.\d+)\.(.+)$',
         'bbox_head.head_module.multi_level_cls_convs.{n}.', 'conv'),
        (r'^head\.reg_convs\.(\d+\.\d+)\.(.+)$',
         'bbox_head.head_module.multi_level_reg_convs.{n}.', 'conv'),
        (r'^head\.cls_preds\.(\d+)\.(weight|bias)$',
         'bbox_head.head_module.multi_level_conv_cls.{n}.', 'param'),
        (r'^head\.reg_preds\.(\d+)\.(weight|bias)$',
         'bbox_head.head_module.multi_level_conv_reg.{n}.', 'param'),
        (r'^head\.obj_preds\.(\d+)\.(weight|bias)$',
         'bbox_head.head_module.multi_level_conv_obj.{n}.', 'param'),
    ))

_NORM_OR_CONV = r'(?:conv|bn)\.[a-z_]+'
# Renames of the rest of a key, per module kind.
_RENAMES: Dict[str, Tuple[Tuple[re.Pattern, str], ...]] = {
    # BaseConv, or DWConv (depthwise + pointwise BaseConv)
    'conv': (
        (re.compile(rf'^({_NORM_OR_CONV})$'), r'\1'),
        (re.compile(rf'^dconv\.({_NORM_OR_CONV})$'), r'depthwise_conv.\1'),
        (re.compile(rf'^pconv\.({_NORM_OR_CONV})$'), r'pointwise_conv.\1'),
    ),
    # Focus: its BaseConv is ``conv``
    'focus': ((re.compile(rf'^conv\.({_NORM_OR_CONV})$'), r'conv.\1'), ),
    # SPPBottleneck: conv1 -> parallel max-pools -> conv2
    'spp': ((re.compile(rf'^(conv[12]\.{_NORM_OR_CONV})$'), r'\1'), ),
    'csp': (
        (re.compile(rf'^conv1\.({_NORM_OR_CONV})$'), r'main_conv.\1'),
        (re.compile(rf'^conv2\.({_NORM_OR_CONV})$'), r'short_conv.\1'),
        (re.compile(rf'^conv3\.({_NORM_OR_CONV})$'), r'final_conv.\1'),
        (re.compile(rf'^m\.(\d+)\.(conv[12])\.({_NORM_OR_CONV})$'),
         r'blocks.\1.\2.\3'),
    ),
    'param': ((re.compile(r'^(weight|bias)$'), r'\1'), ),
}
# A Bottleneck whose 3x3 conv is a DWConv: YOLOX-nano's CSP blocks.
_DEPTHWISE_BLOCK = re.compile(r'\.m\.\d+\.conv2\.[dp]conv\.')


def _target_prefix(template: str, index: Optional[str]) -> str:
    if '{n-1}' in template:
        return template.replace('{n-1}', str(int(index) - 1))
    if '{n}' in template:
        return template.replace('{n}', index)
    return template


def convert_key(key: str) -> Optional[str]:
    """The yolokit key of one official YOLOX key, or None if it has none.

    Args:
        key (str): Key of the official ``YOLOX`` state_dict.

    Returns:
        str | None: The yolokit key.
    """
    for pattern, template, kind in _PREFIXES:
        match = pattern.match(key)
        if match is None:
            continue
        groups = match.groups()
        index = groups[0] if len(groups) == 2 else None
        rest = groups[-1]
        for rest_pattern, repl in _RENAMES[kind]:
            new_rest, count = rest_pattern.subn(repl, rest, count=1)
            if count:
                return _target_prefix(template, index) + new_rest
        return None
    return None


def convert(src_state_dict: Dict[str, torch.Tensor],
            to_float: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an official YOLOX state_dict to yolokit's key layout.

    Args:
        src_state_dict (dict[str, Tensor]): State dict of an official
            ``yolox.models.YOLOX`` (keys ``backbone.*`` and ``head.*``).
        to_float (bool): Cast floating tensors to float32.
            Defaults to True.

    Returns:
        OrderedDict[str, Tensor]: The yolokit state_dict.

    Raises:
        ValueError: On a YOLOX-nano checkpoint (depthwise CSP blocks) or on
            keys outside the YOLOX CSPDarknet/PAFPN/decoupled-head layout.
    """
    state_dict = strip_wrapper_prefix(dict(src_state_dict))
    depthwise_blocks = [k for k in state_dict if _DEPTHWISE_BLOCK.search(k)]
    if depthwise_blocks:
        raise ValueError(
            'This is a YOLOX-nano-style checkpoint: its CSP blocks use '
            f'depthwise-separable convs (e.g. {depthwise_blocks[0]}). '
            "MMYOLO's and yolokit's YOLOX-nano keep dense 3x3 convs in the "
            'CSP blocks, so these weights have no place in the yolokit '
            'model and cannot be converted.')
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown: List[str] = []
    for key, value in state_dict.items():
        new_key = convert_key(key)
        if new_key is None:
            unknown.append(key)
            continue
        if new_key in converted:
            raise ValueError(f'{key} maps to {new_key}, which another key '
                             'already mapped to')
        if to_float and torch.is_tensor(value) and value.is_floating_point():
            value = value.float()
        converted[new_key] = value
    if unknown:
        raise ValueError(
            f'{len(unknown)} key(s) are not part of the official YOLOX '
            '(CSPDarknet + YOLOPAFPN + YOLOXHead) layout: '
            f'{unknown[:10]}')
    return converted


def load_official_checkpoint(src: str) -> Dict[str, torch.Tensor]:
    """Load the weights of an official YOLOX checkpoint file.

    The released checkpoints (``yolox_s.pth`` ...) are dicts with the
    state_dict under ``model`` (besides ``start_epoch`` and ``optimizer``);
    a plain state_dict works too. They are read with ``weights_only=True``.
    """
    try:
        obj = load_weights_only(src)
    except CheckpointRefusedError as e:
        raise RuntimeError(
            f'{src} holds pickled Python objects besides tensors, which '
            'yolokit does not unpickle. Re-save its weights as a plain '
            "state_dict: torch.save(ckpt['model'], 'plain.pth').") from e
    return extract_state_dict(obj, src)


def parse_args() -> argparse.Namespace:
    return converter_arg_parser(
        'Convert an official YOLOX (Megvii) checkpoint to a yolokit '
        'checkpoint.', 'yolox_s.pth', 'mmyoloxs.pt',
        'official YOLOX checkpoint').parse_args()


def main() -> None:
    args = parse_args()
    check_conversion_paths(args.src, args.dst)
    src_state_dict = load_official_checkpoint(args.src)
    reject_converted_layout(src_state_dict, args.src)
    with naming_source(args.src, 'an official YOLOX checkpoint'):
        state_dict = convert(src_state_dict, to_float=not args.keep_half)
    save_converted_checkpoint(state_dict, args.src, args.dst, 'YOLOX')


if __name__ == '__main__':
    main()
