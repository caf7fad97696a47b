"""Convert a WongKinYiu YOLOv7 checkpoint (yolov7-tiny, yolov7) to yolokit.

The official network is one flat ``nn.Sequential`` (``model.<index>.*``)
built from ``cfg/training/yolov7-tiny.yaml`` or ``yolov7.yaml``. Every
``Conv`` there (conv + bn + act) is one yolokit ``ConvModule``; the layers
that only concatenate, pool or upsample hold no weights. The index of the
``IDetect`` layer (77 for tiny, 105 for l) tells the architecture; each
layer index is then mapped to its yolokit module by the tables below,
built from the layout of each block (the same mapping as MMYOLO 0.6.0's
converter, so the result also loads into MMYOLO):

* tiny ELAN (``TinyDownSampleBlock``, 7 official layers): shortcut conv,
  three chained convs, a concat, the fuse conv;
* ELAN of YOLOv7-l (9 layers in the backbone, 8 in the neck): shortcut,
  main, the grouped 3x3 convs, a concat, the fuse conv;
* MP block (4 layers): max-pool, its 1x1 conv, then the 1x1 and 3x3/2
  convs of the strided branch;
* ``SPPCSPC`` (``cv1``..``cv7`` of one layer) and ``RepConv``
  (``rbr_dense``/``rbr_1x1`` as ``Sequential(conv, bn)``);
* ``IDetect``: ``m.<i>`` is ``convs_pred.<i>.1``, ``ia.<i>``/``im.<i>``
  are ``convs_pred.<i>.0``/``.2``. A deploy checkpoint whose implicit
  tensors were already fused gets the identity ones (0 and 1).

``anchors``/``anchor_grid`` are dropped (yolokit's prior generator holds
the anchors). The result loads with ``strict=True`` into
``configs/yolov7/yolov7_tiny_syncbn_fast_8x16b-300e_coco.py`` or
``yolov7_l_syncbn_fast_8x16b-300e_coco.py``.

Unpickling an official ``.pt`` file (``ckpt['model']`` is a pickled
``nn.Module``) needs the yolov7 repository on ``PYTHONPATH`` and runs code
stored in the file: convert checkpoints only from sources you trust.

Example:
    PYTHONPATH=path/to/yolov7 python tools/model_converters/\\
yolov7_to_yolokit.py --src yolov7-tiny.pt --dst yolokit_yolov7_tiny.pth
"""
import argparse
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
from mmengine.logging import print_log

from yolokit.utils.checkpoint_safety import (CheckpointRefusedError,
                                             load_weights_only)
from yolokit.utils.official_checkpoint import (
    check_conversion_paths, converter_arg_parser, extract_state_dict,
    naming_source, reject_converted_layout, save_converted_checkpoint,
    strip_wrapper_prefix)

Table = Dict[str, str]  # official prefix -> yolokit prefix


def _tiny_elan(first: int, dst: str) -> Table:
    """A ``TinyDownSampleBlock``: layers first..first+5 (first+4 is the
    concat)."""
    names = [
        'short_conv', 'main_convs.0', 'main_convs.1', 'main_convs.2', None,
        'final_conv'
    ]
    return {
        f'model.{first + i}': f'{dst}.{name}'
        for i, name in enumerate(names) if name
    }


def _elan(first: int, dst: str, group_names: List[str]) -> Table:
    """An ``ELANBlock``: shortcut, main, the group convs, concat, fuse."""
    names = ['short_conv', 'main_conv'] + group_names + [None, 'final_conv']
    return {
        f'model.{first + i}': f'{dst}.{name}'
        for i, name in enumerate(names) if name
    }


def _mp(first: int, dst: str) -> Table:
    """A ``MaxPoolAndStrideConvBlock``: pool (no weights), its 1x1 conv,
    then the strided branch's 1x1 and 3x3/2 convs."""
    return {
        f'model.{first + 1}': f'{dst}.maxpool_branches.1',
        f'model.{first + 2}': f'{dst}.stride_conv_branches.0',
        f'model.{first + 3}': f'{dst}.stride_conv_branches.1',
    }


def tiny_table() -> Tuple[Table, int]:
    """yolov7-tiny.yaml; the ``IDetect`` layer is 77."""
    table = {'model.0': 'backbone.stem.0', 'model.1': 'backbone.stem.1'}
    # stage 1 has no max-pool in front, so its block is child 0
    for stage, first in zip(range(1, 5), (2, 9, 16, 23)):
        child = 0 if stage == 1 else 1
        table.update(_tiny_elan(first, f'backbone.stage{stage}.{child}'))
    sppcsp = 'neck.reduce_layers.2'
    table.update({
        'model.29': f'{sppcsp}.short_layer',
        'model.30': f'{sppcsp}.main_layers',
        'model.35': f'{sppcsp}.fuse_layers',
        'model.37': f'{sppcsp}.final_conv',
        'model.38': 'neck.upsample_layers.0.0',
        'model.40': 'neck.reduce_layers.1',
        'model.48': 'neck.upsample_layers.1.0',
        'model.50': 'neck.reduce_layers.0',
        'model.58': 'neck.downsample_layers.0',
        'model.66': 'neck.downsample_layers.1',
        'model.74': 'neck.out_layers.0',
        'model.75': 'neck.out_layers.1',
        'model.76': 'neck.out_layers.2',
    })
    for first, dst in ((42, 'neck.top_down_layers.0'),
                       (52, 'neck.top_down_layers.1'),
                       (60, 'neck.bottom_up_layers.0'),
                       (68, 'neck.bottom_up_layers.1')):
        table.update(_tiny_elan(first, dst))
    return table, 77


def l_table() -> Tuple[Table, int]:
    """yolov7.yaml; the ``IDetect`` layer is 105."""
    backbone_groups = ['blocks.0.0', 'blocks.0.1', 'blocks.1.0', 'blocks.1.1']
    neck_groups = [f'blocks.{i}' for i in range(4)]
    table = {f'model.{i}': f'backbone.stem.{i}' for i in range(3)}
    table['model.3'] = 'backbone.stage1.0'
    table.update(_elan(4, 'backbone.stage1.1', backbone_groups))
    for stage, first in zip(range(2, 5), (12, 25, 38)):
        table.update(_mp(first, f'backbone.stage{stage}.0'))
        table.update(
            _elan(first + 5, f'backbone.stage{stage}.1', backbone_groups))
    sppcsp = 'neck.reduce_layers.2'
    for cv, name in (('cv1', 'main_layers.0'), ('cv3', 'main_layers.1'),
                     ('cv4', 'main_layers.2'), ('cv5', 'fuse_layers.0'),
                     ('cv6', 'fuse_layers.1'), ('cv2', 'short_layer'),
                     ('cv7', 'final_conv')):
        table[f'model.51.{cv}'] = f'{sppcsp}.{name}'
    table.update({
        'model.52': 'neck.upsample_layers.0.0',
        'model.54': 'neck.reduce_layers.1',
        'model.64': 'neck.upsample_layers.1.0',
        'model.66': 'neck.reduce_layers.0',
    })
    for first, dst in ((56, 'neck.top_down_layers.0'),
                       (68, 'neck.top_down_layers.1'),
                       (81, 'neck.bottom_up_layers.0'),
                       (94, 'neck.bottom_up_layers.1')):
        table.update(_elan(first, dst, neck_groups))
    table.update(_mp(76, 'neck.downsample_layers.0'))
    table.update(_mp(89, 'neck.downsample_layers.1'))
    for level, index in enumerate((102, 103, 104)):
        for branch in ('rbr_dense', 'rbr_1x1'):
            for part, name in (('0', 'conv'), ('1', 'bn')):
                table[f'model.{index}.{branch}.{part}'] = \
                    f'neck.out_layers.{level}.{branch}.{name}'
    return table, 105


TABLES = {'tiny': tiny_table, 'l': l_table}
_HEAD_INDEX_TO_ARCH = {77: 'tiny', 105: 'l'}


def detect_arch(state_dict: Dict[str, torch.Tensor]) -> str:
    """``'tiny'`` or ``'l'``, from the index of the layer with anchors."""
    heads = {
        int(k.split('.')[1])
        for k in state_dict if k.endswith('.anchors')
    }
    if len(heads) != 1 or next(iter(heads)) not in _HEAD_INDEX_TO_ARCH:
        raise ValueError(
            'expected one detect layer model.<i>.anchors with i in '
            f'{sorted(_HEAD_INDEX_TO_ARCH)} (yolov7-tiny, yolov7), found '
            f'{sorted(heads)}')
    return _HEAD_INDEX_TO_ARCH[heads.pop()]


def _head_key(rest: str, head: str) -> str:
    """``m.<i>.*``, ``ia.<i>.implicit``, ``im.<i>.implicit`` of IDetect."""
    kind, level, tail = rest.split('.', 2)
    slot = {'ia': 0, 'm': 1, 'im': 2}.get(kind)
    if slot is None:
        raise KeyError(f'unknown detect layer key {head}.{rest}')
    return f'bbox_head.head_module.convs_pred.{level}.{slot}.{tail}'


def convert(src_state_dict: Dict[str, torch.Tensor],
            to_float: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Map an official YOLOv7 state_dict to yolokit keys."""
    src_state_dict = strip_wrapper_prefix(src_state_dict)
    arch = detect_arch(src_state_dict)
    table, head_index = TABLES[arch]()
    head = f'model.{head_index}'
    # longest prefix first: model.51.cv1 before model.5
    prefixes = sorted(table, key=len, reverse=True)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in src_state_dict.items():
        if key.endswith(('.anchors', '.anchor_grid')):
            continue
        if key.startswith(head + '.'):
            new_key = _head_key(key[len(head) + 1:], head)
        else:
            prefix = next((p for p in prefixes if key.startswith(p + '.')),
                          None)
            if prefix is None:
                raise KeyError(f'{key} has no yolokit counterpart in the '
                               f'yolov7-{arch} layout')
            new_key = table[prefix] + key[len(prefix):]
        out[new_key] = value.float() if to_float and \
            value.is_floating_point() else value
    _add_identity_implicits(out)
    return out


def _add_identity_implicits(state_dict: Dict[str, torch.Tensor]) -> None:
    """Deploy checkpoints fold the implicit tensors into the 1x1 conv; add
    the identity ones (ImplicitA 0, ImplicitM 1) so the layout is full."""
    for level in range(3):
        conv = f'bbox_head.head_module.convs_pred.{level}.1.weight'
        weight = state_dict[conv]
        out_c, in_c = weight.shape[:2]
        state_dict.setdefault(
            f'bbox_head.head_module.convs_pred.{level}.0.implicit',
            weight.new_zeros(1, in_c, 1, 1))
        state_dict.setdefault(
            f'bbox_head.head_module.convs_pred.{level}.2.implicit',
            weight.new_ones(1, out_c, 1, 1))


def load_yolov7_checkpoint(src: str) -> Dict[str, torch.Tensor]:
    """The state_dict of an official checkpoint (EMA first, see
    :func:`extract_state_dict`) or of a plain state_dict file."""
    try:
        obj = load_weights_only(src)
    except CheckpointRefusedError:
        print_log(
            f'{src} holds pickled Python objects (an official YOLOv7 '
            'checkpoint); unpickling it needs the yolov7 repository on '
            'PYTHONPATH.',
            logger='current')
        obj = torch.load(src, map_location='cpu', weights_only=False)
    return extract_state_dict(obj, src)


def parse_args() -> argparse.Namespace:
    return converter_arg_parser(
        'Convert an official YOLOv7 (tiny, l) checkpoint to a yolokit '
        'checkpoint.', 'yolov7-tiny.pt', 'yolokit_yolov7_tiny.pth',
        'official YOLOv7 checkpoint path').parse_args()


def main() -> None:
    args = parse_args()
    check_conversion_paths(args.src, args.dst)
    src_state_dict = load_yolov7_checkpoint(args.src)
    reject_converted_layout(src_state_dict, args.src)
    with naming_source(args.src, 'an official YOLOv7 checkpoint'):
        state_dict = convert(src_state_dict, to_float=not args.keep_half)
    save_converted_checkpoint(state_dict, args.src, args.dst, 'YOLOv7')


if __name__ == '__main__':
    main()
