"""Convert a WongKinYiu YOLOv7 checkpoint to yolokit.

Supported: yolov7-tiny, yolov7 (l), yolov7x and the P6 models yolov7-w6
and yolov7-e6, as training checkpoints (``cfg/training/*.yaml``; P6 with
the auxiliary heads of ``IAuxDetect``) or as released/deploy ones (P6
without the auxiliary convs).

The official network is one flat ``nn.Sequential`` (``model.<index>.*``)
built from the yaml. Every ``Conv`` there (conv + bn + act) is one yolokit
``ConvModule``; the layers that only concatenate, pool, upsample or
reorganise (``ReOrg``, yolokit's ``Focus`` without its conv) hold no
weights. The index of the detect layer (tiny 77, l 105, x 121; w6 122 or
118, e6 144 or 140) tells the architecture; each layer index is then
mapped to its yolokit module by the tables below, built from the layout
of each block (the same mapping as MMYOLO 0.6.0's converter, so the result
also loads into MMYOLO):

* tiny ELAN (``TinyDownSampleBlock``, 7 official layers): shortcut conv,
  three chained convs, a concat, the fuse conv;
* ELAN (l, x, P6): shortcut, main, the 3x3 convs (pairs in the backbone,
  single ones in the neck), a concat, the fuse conv;
* MP block (4 layers): max-pool, its 1x1 conv, then the 1x1 and 3x3/2
  convs of the strided branch; e6's ``DownC`` (``cv1``..``cv3`` of one
  layer) is the same block;
* ``SPPCSPC`` (``cv1``..``cv7`` of one layer) and ``RepConv``
  (``rbr_dense``/``rbr_1x1`` as ``Sequential(conv, bn)``);
* ``IDetect``: ``m.<i>`` is ``convs_pred.<i>.1``, ``ia.<i>``/``im.<i>``
  are ``convs_pred.<i>.0``/``.2``; P6 ``IAuxDetect``: ``m``/``ia``/``im``
  are ``main_convs_pred.<i>.2``/``.1``/``.3`` and ``m2.<i>`` is
  ``aux_convs_pred.<i>.1``. A checkpoint without implicit tensors gets
  the identity ones (0 and 1).

Not supported: yolov7-d6, because MMYOLO 0.6.0's ``yolov7_d-p6`` config is
not the official d6 (its neck ELANs have 6 convs of 230 channels where
d6 has 8 of 192), and yolov7-e6e, whose E-ELAN blocks need a table of
their own (not written yet).

``anchors``/``anchor_grid`` are dropped (yolokit's prior generator holds
the anchors). The result loads with ``strict=True`` into the shipped
``configs/yolov7`` config of the same model; a released P6 checkpoint
lacks the auxiliary weights (used only in training), load it with
``strict=False`` or into a config with ``use_aux=False``.

Unpickling an official ``.pt`` file (``ckpt['model']`` is a pickled
``nn.Module``) needs the yolov7 repository on ``PYTHONPATH`` and runs code
stored in the file: convert checkpoints only from sources you trust.

Example:
    PYTHONPATH=path/to/yolov7 python tools/model_converters/\\
yolov7_to_yolokit.py --src yolov7-tiny.pt --dst yolokit_yolov7_tiny.pth
"""
import argparse
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Tuple

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


def _sppcspc(index: int, dst: str) -> Table:
    """``SPPCSPC``: its seven convs as yolokit's ``SPPFCSPBlock``."""
    names = (('cv1', 'main_layers.0'), ('cv3', 'main_layers.1'),
             ('cv4', 'main_layers.2'), ('cv5', 'fuse_layers.0'),
             ('cv6', 'fuse_layers.1'), ('cv2', 'short_layer'), ('cv7',
                                                                'final_conv'))
    return {f'model.{index}.{cv}': f'{dst}.{name}' for cv, name in names}


def _downc(index: int, dst: str) -> Table:
    """``DownC`` (1x1 then 3x3/2, and max-pool then 1x1) as a
    ``MaxPoolAndStrideConvBlock``."""
    return {
        f'model.{index}.cv1': f'{dst}.stride_conv_branches.0',
        f'model.{index}.cv2': f'{dst}.stride_conv_branches.1',
        f'model.{index}.cv3': f'{dst}.maxpool_branches.1',
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
    table.update(_sppcspc(51, 'neck.reduce_layers.2'))
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


def x_table() -> Tuple[Table, int]:
    """yolov7x.yaml: the layout of yolov7.yaml with three pairs of 3x3
    convs in every ELAN and plain 3x3 output convs; ``IDetect`` is 121."""
    groups = [f'blocks.{i}.{j}' for i in range(3) for j in range(2)]
    table = {f'model.{i}': f'backbone.stem.{i}' for i in range(3)}
    table['model.3'] = 'backbone.stage1.0'
    table.update(_elan(4, 'backbone.stage1.1', groups))
    for stage, first in zip(range(2, 5), (14, 29, 44)):
        table.update(_mp(first, f'backbone.stage{stage}.0'))
        table.update(_elan(first + 5, f'backbone.stage{stage}.1', groups))
    table.update(_sppcspc(59, 'neck.reduce_layers.2'))
    table.update({
        'model.60': 'neck.upsample_layers.0.0',
        'model.62': 'neck.reduce_layers.1',
        'model.74': 'neck.upsample_layers.1.0',
        'model.76': 'neck.reduce_layers.0',
        'model.118': 'neck.out_layers.0',
        'model.119': 'neck.out_layers.1',
        'model.120': 'neck.out_layers.2',
    })
    for first, dst in ((64, 'neck.top_down_layers.0'),
                       (78, 'neck.top_down_layers.1'),
                       (93, 'neck.bottom_up_layers.0'),
                       (108, 'neck.bottom_up_layers.1')):
        table.update(_elan(first, dst, groups))
    table.update(_mp(88, 'neck.downsample_layers.0'))
    table.update(_mp(103, 'neck.downsample_layers.1'))
    return table, 121


class P6Layout(NamedTuple):
    """What tells the P6 yaml files apart (their layer order is shared)."""
    downc: bool  # DownC down-sampling (e6) or a strided Conv (w6)
    backbone_pairs: int  # 3x3 conv pairs per backbone ELAN
    neck_convs: int  # 3x3 convs per neck ELAN


def p6_table(layout: P6Layout) -> Tuple[Table, int, int]:
    """A P6 yaml (ReOrg stem, five stages, SPPCSPC, three top-down and
    three bottom-up ELANs, 4 main and 4 auxiliary 3x3 convs, then the
    detect layer). Returns the table and the index of the training
    detect layer (``IAuxDetect``) and of the released one (``Detect``,
    no auxiliary convs before it)."""
    backbone_elan = 4 + 2 * layout.backbone_pairs  # short, main, .., cat, fuse
    neck_elan = 4 + layout.neck_convs
    pairs = [
        f'blocks.{i}.{j}' for i in range(layout.backbone_pairs)
        for j in range(2)
    ]
    singles = [f'blocks.{i}' for i in range(layout.neck_convs)]

    def down(index: int, dst: str) -> Table:
        return _downc(index, dst) if layout.downc else {f'model.{index}': dst}

    table = {'model.1': 'backbone.stem.conv'}  # model.0 is ReOrg (Focus)
    for stage in range(1, 6):
        first = 2 + (stage - 1) * (1 + backbone_elan)
        table.update(down(first, f'backbone.stage{stage}.0'))
        table.update(_elan(first + 1, f'backbone.stage{stage}.1', pairs))
    spp = 2 + 5 * (1 + backbone_elan)
    table.update(_sppcspc(spp, 'neck.reduce_layers.3'))
    # top-down: reduce conv, upsample, route conv, concat, ELAN
    for i in range(3):
        first = spp + 1 + i * (4 + neck_elan)
        table[f'model.{first}'] = f'neck.upsample_layers.{i}.0'
        table[f'model.{first + 2}'] = f'neck.reduce_layers.{2 - i}'
        table.update(_elan(first + 4, f'neck.top_down_layers.{i}', singles))
    # bottom-up: down-sample, concat, ELAN
    bottom_up = spp + 1 + 3 * (4 + neck_elan)
    for i in range(3):
        first = bottom_up + i * (2 + neck_elan)
        table.update(down(first, f'neck.downsample_layers.{i}'))
        table.update(_elan(first + 2, f'neck.bottom_up_layers.{i}', singles))
    outs = bottom_up + 3 * (2 + neck_elan)
    for level in range(4):
        table[f'model.{outs + level}'] = \
            f'bbox_head.head_module.main_convs_pred.{level}.0'
        table[f'model.{outs + 4 + level}'] = \
            f'bbox_head.head_module.aux_convs_pred.{level}.0'
    return table, outs + 8, outs + 4


P6_LAYOUTS = {
    'w6': P6Layout(downc=False, backbone_pairs=2, neck_convs=4),
    'e6': P6Layout(downc=True, backbone_pairs=3, neck_convs=6),
}
P5_TABLES = {'tiny': tiny_table, 'l': l_table, 'x': x_table}


class Arch(NamedTuple):
    """A detected official architecture."""
    name: str  # 'tiny', 'l', 'x', 'w6', 'e6'
    table: Table
    head_index: int
    p6: bool


def _known_heads() -> Dict[int, Tuple[str, bool]]:
    """Detect-layer index -> (arch, P6) for every supported layout."""
    heads = {P5_TABLES[a]()[1]: (a, False) for a in P5_TABLES}
    for name, layout in P6_LAYOUTS.items():
        _, training, released = p6_table(layout)
        heads[training] = heads[released] = (name, True)
    return heads


def detect_arch(state_dict: Dict[str, torch.Tensor]) -> Arch:
    """The architecture, from the index of the layer with anchors."""
    known = _known_heads()
    heads = {
        int(k.split('.')[1])
        for k in state_dict if k.endswith('.anchors')
    }
    if len(heads) != 1 or next(iter(heads)) not in known:
        names = {i: f'{a}' for i, (a, _) in known.items()}
        raise ValueError(
            'expected one detect layer model.<i>.anchors with i in '
            f'{names} (yolov7-<arch>), found {sorted(heads)}')
    head_index = heads.pop()
    name, p6 = known[head_index]
    table = p6_table(P6_LAYOUTS[name])[0] if p6 else P5_TABLES[name]()[0]
    return Arch(name, table, head_index, p6)


# detect-layer submodule -> (yolokit list, index inside each level's
# Sequential); P5 ``convs_pred.<l>`` is (ImplicitA, Conv2d, ImplicitM),
# P6 ``main_convs_pred.<l>`` is (ConvModule, ImplicitA, Conv2d, ImplicitM)
# and ``aux_convs_pred.<l>`` is (ConvModule, Conv2d)
_P5_HEAD_SLOTS = {
    'ia': ('convs_pred', 0),
    'm': ('convs_pred', 1),
    'im': ('convs_pred', 2)
}
_P6_HEAD_SLOTS = {
    'ia': ('main_convs_pred', 1),
    'm': ('main_convs_pred', 2),
    'im': ('main_convs_pred', 3),
    'm2': ('aux_convs_pred', 1)
}


def _head_key(rest: str, head: str, p6: bool) -> str:
    """``m.<i>.*``, ``ia.<i>.implicit``, ``im.<i>.implicit`` (and P6's
    ``m2.<i>.*``) of the detect layer."""
    kind, level, tail = rest.split('.', 2)
    slot = (_P6_HEAD_SLOTS if p6 else _P5_HEAD_SLOTS).get(kind)
    if slot is None:
        raise KeyError(f'unknown detect layer key {head}.{rest}')
    modules, index = slot
    return f'bbox_head.head_module.{modules}.{level}.{index}.{tail}'


def convert(src_state_dict: Dict[str, torch.Tensor],
            to_float: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Map an official YOLOv7 state_dict to yolokit keys."""
    src_state_dict = strip_wrapper_prefix(src_state_dict)
    arch = detect_arch(src_state_dict)
    head = f'model.{arch.head_index}'
    # longest prefix first: model.51.cv1 before model.5
    prefixes = sorted(arch.table, key=len, reverse=True)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in src_state_dict.items():
        if key.endswith(('.anchors', '.anchor_grid')):
            continue
        if key.startswith(head + '.'):
            new_key = _head_key(key[len(head) + 1:], head, arch.p6)
        else:
            prefix = next((p for p in prefixes if key.startswith(p + '.')),
                          None)
            if prefix is None:
                raise KeyError(f'{key} has no yolokit counterpart in the '
                               f'yolov7-{arch.name} layout')
            new_key = arch.table[prefix] + key[len(prefix):]
        out[new_key] = value.float() if to_float and \
            value.is_floating_point() else value
    _add_identity_implicits(out, arch.p6)
    return out


def _add_identity_implicits(state_dict: Dict[str, torch.Tensor],
                            p6: bool) -> None:
    """Released and deploy checkpoints fold the implicit tensors into the
    1x1 conv (or never had them); add the identity ones (ImplicitA 0,
    ImplicitM 1) so the layout is full."""
    modules = 'main_convs_pred' if p6 else 'convs_pred'
    slots = _P6_HEAD_SLOTS if p6 else _P5_HEAD_SLOTS
    for level in range(4 if p6 else 3):
        prefix = f'bbox_head.head_module.{modules}.{level}'
        weight = state_dict[f'{prefix}.{slots["m"][1]}.weight']
        out_c, in_c = weight.shape[:2]
        state_dict.setdefault(f'{prefix}.{slots["ia"][1]}.implicit',
                              weight.new_zeros(1, in_c, 1, 1))
        state_dict.setdefault(f'{prefix}.{slots["im"][1]}.implicit',
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
        'Convert an official YOLOv7 (tiny, l, x, w6, e6) checkpoint to a '
        'yolokit checkpoint.', 'yolov7-tiny.pt', 'yolokit_yolov7_tiny.pth',
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
