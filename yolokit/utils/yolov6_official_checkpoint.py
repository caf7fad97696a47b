"""Renaming Meituan YOLOv6 checkpoints (releases 0.2.0 and 0.3.0) to yolokit.

Shared by ``tools/model_converters/yolov6_to_yolokit.py`` (release 0.2.0,
"YOLOv6 v2.0") and ``yolov6_v3_to_yolokit.py`` (release 0.3.0, "v3.0").

The official model has the same three parts as yolokit's ``YOLODetector``
(``backbone``, ``neck``, ``detect`` for ``bbox_head.head_module``) and the
same blocks inside them; only the block names differ. A key is converted
in two steps:

1. its block prefix is looked up in a table (``backbone.ERBlock_3.1`` ->
   ``backbone.stage2.0.1``); each official ``ERBlock_<k>`` is one yolokit
   stage, whose first child holds the strided conv and the repeated block,
   and whose second child is the SPPF of the last stage;
2. inside the block, path segments are renamed one by one: ``cv<i>`` ->
   ``conv<i>`` (BepC3, SPPF, CSPSPPF, BiFusion) and ``m`` -> ``block``
   (the BottleRep stack of a BepC3).

The releases differ in the neck's up-sampling (0.2.0: a bare transposed
conv ``upsample<i>.upsample_transpose``; 0.3.0: a ``Bifusion<i>`` block)
and in the heads 0.3.0 can be trained with:

* the plain head (``cls_preds``, ``reg_preds``), as released for m/l;
* the self-distillation head of n/s (``reg_preds_lrtb`` gives the box
  distances used at test time, ``reg_preds`` a DFL distribution used only
  as a training target): ``reg_preds_lrtb`` becomes ``reg_preds`` and the
  DFL branch is dropped;
* the anchor-aided head (``*_af`` anchor-free and ``*_ab`` anchor-based
  branches): the anchor-free ones are kept, the anchor-based ones, unused
  at test time, are dropped.

``detect.proj``/``detect.proj_conv.weight`` (the fixed DFL integral
``0, 1, ..., reg_max``) are dropped: yolokit rebuilds it as a non-persistent
buffer. The result is the key layout of MMYOLO 0.6.0, so it loads into
MMYOLO too. One exception: 0.2.0 trains m/l with a DFL head
(``reg_max=16``) but MMYOLO's v2.0 m/l configs have ``reg_max=0``; the
converter logs the config option the weights need. P6 models (0.3.0's
``yolov6*6``) have no MMYOLO counterpart and are refused.

``--src`` of both converters is either an official training or released
file (the whole model pickled under ``ema``/``model``, usually half
precision; unpickling needs the meituan/YOLOv6 repository of that release
on ``PYTHONPATH`` and runs code stored in the file, so convert only files
you trust) or a plain ``model.state_dict()`` (loaded weights-only).
"""
import logging
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

RELEASES = ('0.2.0', '0.3.0')
_HEAD = 'bbox_head.head_module'

# official block -> yolokit module, the same in both releases. yolokit's
# stage k - 1 is ``Sequential(Sequential(down conv, blocks))``, plus the
# SPPF as a second child in stage 4: the nesting is MMYOLO's, fixed by its
# state_dict keys.
_COMMON_BLOCKS = {
    'backbone.stem': 'backbone.stem',
    **{
        f'backbone.ERBlock_{k}.{child}': f'backbone.stage{k - 1}.0.{child}'
        for k in range(2, 6)
        for child in (0, 1)
    },
    'backbone.ERBlock_5.2': 'backbone.stage4.1',
    'neck.reduce_layer0': 'neck.reduce_layers.2',
    'neck.Rep_p4': 'neck.top_down_layers.0.0',
    'neck.reduce_layer1': 'neck.top_down_layers.0.1',
    'neck.Rep_p3': 'neck.top_down_layers.1',
    'neck.downsample2': 'neck.downsample_layers.0',
    'neck.Rep_n3': 'neck.bottom_up_layers.0',
    'neck.downsample1': 'neck.downsample_layers.1',
    'neck.Rep_n4': 'neck.bottom_up_layers.1',
    'detect': _HEAD,
}
# the neck's up-sampling step: the block that tells the releases apart
_UPSAMPLE_BLOCKS = {
    '0.2.0': {
        f'neck.upsample{i}.upsample_transpose': f'neck.upsample_layers.{i}'
        for i in range(2)
    },
    '0.3.0': {
        f'neck.Bifusion{i}': f'neck.upsample_layers.{i}'
        for i in range(2)
    },
}
_RELEASE_MARKERS = {
    '0.2.0': 'neck.upsample<i>',
    '0.3.0': 'neck.Bifusion<i>',
}
_MARKER_PATTERNS = {
    release: re.compile('^' + re.escape(marker).replace('<i>', r'\d') + r'\.')
    for release, marker in _RELEASE_MARKERS.items()
}
_CV_SEGMENT = re.compile(r'^cv(\d+)$')

# head branches kept under another name (the inference branch of the
# distillation and anchor-aided heads) and those only used in training
_HEAD_RENAMES = {
    'reg_preds_lrtb': 'reg_preds',
    'cls_preds_af': 'cls_preds',
    'reg_preds_af': 'reg_preds',
}
_TRAINING_ONLY_BRANCHES = ('cls_preds_ab', 'reg_preds_ab')
_DFL_INTEGRAL_KEYS = ('proj', 'proj_conv.weight')


def block_table(release: str) -> Dict[str, str]:
    """Official block prefix -> yolokit module path for one release.

    Raises:
        ValueError: ``release`` is not one of :data:`RELEASES`.
    """
    if release not in _UPSAMPLE_BLOCKS:
        raise ValueError(f'release must be one of {RELEASES}, got '
                         f'{release!r}')
    return {**_COMMON_BLOCKS, **_UPSAMPLE_BLOCKS[release]}


def rename_inner(path: str) -> str:
    """Rename the segments of a key below its block: ``cv<i>`` ->
    ``conv<i>``, ``m`` -> ``block``; 0.3.0's ``BiFusion`` keeps its
    transposed conv one level higher (``upsample.upsample_transpose`` ->
    ``upsample``)."""
    path = path.replace('upsample.upsample_transpose.', 'upsample.')
    segments = [
        'block' if s == 'm' else _CV_SEGMENT.sub(r'conv\1', s)
        for s in path.split('.')
    ]
    return '.'.join(segments)


def detect_release(state_dict: Dict[str, torch.Tensor]) -> str:
    """``'0.2.0'`` or ``'0.3.0'``, from the neck's up-sampling keys.

    Raises:
        ValueError: Neither (or both) kinds of up-sampling keys are there.
    """
    found = [
        release for release, pattern in _MARKER_PATTERNS.items() if any(
            pattern.match(k) for k in state_dict)
    ]
    if len(found) != 1:
        markers = ', '.join(f'{m}.* ({r})'
                            for r, m in _RELEASE_MARKERS.items())
        raise ValueError('expected the keys of exactly one release: '
                         f'{markers}; found those of {found or "none"}')
    return found[0]


def _check_dfl_integral(key: str, value: torch.Tensor) -> None:
    """``proj``/``proj_conv`` must hold ``0, 1, ..., reg_max``: yolokit
    cannot keep a learned integral."""
    expected = torch.arange(value.numel(), dtype=torch.float32)
    if not torch.equal(value.detach().float().flatten(), expected):
        raise ValueError(f'{key} is expected to be 0, 1, ..., reg_max (the '
                         'fixed DFL integral) but holds other values')


def _head_key(rest: str, is_distilled: bool) -> Optional[str]:
    """yolokit name of ``detect.<rest>``, or None for a key to drop."""
    branch, _, tail = rest.partition('.')
    if branch in _TRAINING_ONLY_BRANCHES:
        return None
    if branch == 'reg_preds' and is_distilled:
        return None  # DFL target branch of the distillation head
    return '.'.join([_HEAD_RENAMES.get(branch, branch), tail])


def _split_block(key: str, prefixes: List[str]) -> Optional[Tuple[str, str]]:
    """``(block prefix, rest)`` of a key, longest prefix first."""
    for prefix in prefixes:
        if key.startswith(prefix + '.'):
            return prefix, key[len(prefix) + 1:]
    return None


def convert(src_state_dict: Dict[str, torch.Tensor],
            release: str,
            to_float: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an official YOLOv6 state_dict to yolokit's key layout.

    Args:
        src_state_dict (dict[str, Tensor]): ``model.state_dict()`` of an
            official ``yolov6.models.yolo.Model`` (P5: n, t, s, m, l).
        release (str): ``'0.2.0'`` or ``'0.3.0'``; the checkpoint must be
            of that release (they need different yolokit configs).
        to_float (bool): Cast floating tensors to float32 (released files
            are half precision). Defaults to True.

    Returns:
        OrderedDict[str, Tensor]: The yolokit (and MMYOLO 0.6.0) state_dict.

    Raises:
        ValueError: The checkpoint is of the other release, has RepVGG
            blocks fused for deployment, or its DFL integral is not
            ``0, ..., reg_max``.
        KeyError: A key outside the P5 layout (e.g. a P6 model's
            ``ERBlock_6``).
    """
    state_dict = strip_wrapper_prefix(dict(src_state_dict))
    table = block_table(release)
    found = detect_release(state_dict)
    if found != release:
        raise ValueError(
            f'this is a YOLOv6 {found} checkpoint '
            f'({_RELEASE_MARKERS[found]}.* keys), expected {release}; use the '
            'converter of that release')
    fused = [k for k in state_dict if '.rbr_reparam.' in k]
    if fused:
        raise ValueError(
            f'{len(fused)} key(s) such as {fused[0]} hold RepVGG blocks '
            'fused for deployment; convert the training checkpoint (with '
            'rbr_dense/rbr_1x1 branches), yolokit configs build that form')
    prefixes = sorted(table, key=len, reverse=True)
    is_distilled = any(
        k.startswith('detect.reg_preds_lrtb.') for k in state_dict)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    dropped, unknown = [], []
    for key, value in state_dict.items():
        split = _split_block(key, prefixes)
        if split is None:
            unknown.append(key)
            continue
        prefix, rest = split
        if prefix == 'detect':
            if rest in _DFL_INTEGRAL_KEYS:
                _check_dfl_integral(key, value)
                continue
            rest = _head_key(rest, is_distilled)
            if rest is None:
                dropped.append(key)
                continue
        new_key = f'{table[prefix]}.{rename_inner(rest)}'
        if to_float and value.is_floating_point():
            value = value.float()
        out[new_key] = value
    if unknown:
        raise KeyError(f'{len(unknown)} key(s) have no yolokit counterpart '
                       f'in the YOLOv6 {release} P5 layout: {unknown[:10]}')
    _note_v2_dfl_head(out, release)
    if dropped:
        branches = sorted({k.split('.')[1] for k in dropped})
        print_log(
            f'Dropped {len(dropped)} tensors of the training-only head '
            f'branches {branches}',
            logger='current')
    return out


def _note_v2_dfl_head(state_dict: Dict[str, torch.Tensor],
                      release: str) -> None:
    """Release 0.2.0 trains m/l with a DFL head (``reg_max=16``) while
    MMYOLO 0.6.0's (and so yolokit's) v2.0 m/l configs keep the 4-channel
    head: say what the config needs for the weights to load."""
    weight = state_dict.get(f'{_HEAD}.reg_preds.0.weight')
    if release != '0.2.0' or weight is None or weight.shape[0] == 4:
        return
    reg_max = weight.shape[0] // 4 - 1
    print_log(
        f'This YOLOv6 0.2.0 checkpoint has a DFL head (reg_max={reg_max}); '
        'the shipped yolov6_m/l configs have reg_max=0. Load it with '
        f'--cfg-options model.bbox_head.head_module.reg_max={reg_max}.',
        logger='current',
        level=logging.WARNING)


def load_yolov6_checkpoint(src: str) -> Dict[str, torch.Tensor]:
    """The state_dict of an official YOLOv6 checkpoint file.

    Released files pickle the whole model (``ckpt['ema']``/``['model']``
    is an ``nn.Module``). A plain state_dict loads with
    ``weights_only=True``; only when that is refused does the file get
    unpickled in full (EMA first, see :func:`extract_state_dict`), which
    needs the official ``yolov6`` package importable (``PYTHONPATH``
    pointing at a clone of meituan/YOLOv6) and runs code stored in the
    file: convert only checkpoints from sources you trust.
    """
    try:
        obj = load_weights_only(src)
    except CheckpointRefusedError:
        print_log(
            f'{src} holds pickled Python objects (an official YOLOv6 '
            'checkpoint); unpickling it needs the meituan/YOLOv6 '
            'repository on PYTHONPATH.',
            logger='current')
        try:
            # full unpickling on purpose: the user passed their own file
            obj = torch.load(src, map_location='cpu', weights_only=False)
        except ModuleNotFoundError as e:
            raise ImportError(
                f'{src} pickles the official model classes ({e.name} is '
                'missing): put a clone of meituan/YOLOv6 at the release '
                'the file was trained with on PYTHONPATH, or pass a plain '
                'state_dict saved with torch.save(model.state_dict(), ...)'
            ) from e
    return extract_state_dict(obj, src)


def run_converter(release: str, default_src: str, default_dst: str) -> None:
    """Command line entry of both YOLOv6 converters."""
    args = converter_arg_parser(
        f'Convert an official YOLOv6 {release} checkpoint (P5 models) to '
        'a yolokit checkpoint.', default_src, default_dst,
        f'official YOLOv6 {release} checkpoint path').parse_args()
    check_conversion_paths(args.src, args.dst)
    src_state_dict = load_yolov6_checkpoint(args.src)
    reject_converted_layout(src_state_dict, args.src)
    with naming_source(args.src, f'an official YOLOv6 {release} checkpoint'):
        state_dict = convert(
            src_state_dict, release, to_float=not args.keep_half)
    save_converted_checkpoint(state_dict, args.src, args.dst,
                              f'YOLOv6 {release}')
