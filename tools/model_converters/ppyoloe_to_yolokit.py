"""Convert a PaddleDetection PP-YOLOE / PP-YOLOE+ checkpoint to yolokit.

A ``.pdparams`` file is a pickled dict ``name -> numpy array`` (plus, from
``paddle.save``, a ``'StructuredToParameterName@@'`` dict of strings), so
PaddlePaddle is not needed to read it. Pickles can run code when loaded;
this converter unpickles with an allow-list that admits NumPy arrays and
dtypes and nothing else, and refuses any other object.

PaddleDetection and yolokit build the same network; the names differ by
these rules (``L`` = number of levels, 3):

backbone (``CSPResNet`` -> ``PPYOLOECSPResNet``)
    ``stem.conv<k>`` -> ``stem.<k-1>``; ``stages.<j>`` -> ``stage<j+1>.0``;
    the effective-SE conv ``attn.fc`` -> ``attn.fc.conv``.
neck (``CustomCSPPAN`` -> ``PPYOLOECSPPAFPN``)
    PaddleDetection runs its FPN from the deepest level down and keeps the
    PAN modules in level order, yolokit counts both paths in the order they
    run: ``fpn_stages.0`` -> ``reduce_layers.<L-1>``, ``fpn_stages.<i>`` ->
    ``top_down_layers.<i-1>``, ``fpn_routes.<i>`` -> ``upsample_layers.<i>.0``,
    ``pan_stages.<i>`` / ``pan_routes.<i>`` -> ``bottom_up_layers.<L-2-i>``
    / ``downsample_layers.<L-2-i>``; inside a stage ``convs`` -> ``blocks``
    and the SPP conv ``convs.spp.conv`` -> ``blocks.spp.conv2``.
head (``PPYOLOEHead`` -> ``PPYOLOEHeadModule``)
    ``yolo_head.{stem_cls, stem_reg, pred_cls, pred_reg}.<i>`` ->
    ``bbox_head.head_module.{cls_stems, reg_stems, cls_preds,
    reg_preds}.<L-1-i>`` (PaddleDetection lists the levels deepest first).
    The fixed DFL projection ``proj_conv`` (``0 .. reg_max``) is checked and
    dropped, yolokit computes it; the cached ``anchor_points`` /
    ``stride_tensor`` are dropped.
everywhere
    RepVGG branches ``blocks.<b>.conv2.conv1`` / ``.conv2`` -> ``rbr_dense``
    / ``rbr_1x1``; BatchNorm ``_mean`` / ``_variance`` -> ``running_mean`` /
    ``running_var``, and the ``num_batches_tracked`` counter PyTorch keeps
    (Paddle has none) is added as 0.

The result loads with ``strict=True`` into the model of the matching
``configs/ppyoloe`` config (``ppyoloe_plus_crn_s_80e_coco.pdparams`` ->
``ppyoloe_plus_s_fast_8xb8-80e_coco.py``, ...; for another number of
classes set ``num_classes``). ``--imagenet-pretrain`` converts a backbone
pretrained on ImageNet (``CSPResNetb_s_pretrained.pdparams``: keys without
the ``backbone.`` prefix) to ``backbone.*`` keys only.

Example:
    python tools/model_converters/ppyoloe_to_yolokit.py \\
        --src ppyoloe_plus_crn_s_80e_coco.pdparams \\
        --dst yolokit_ppyoloe_plus_s.pth
"""
import argparse
import functools
import importlib
import pickle
import re
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import print_log

from yolokit.utils.official_checkpoint import (check_conversion_paths,
                                               converter_arg_parser,
                                               naming_source,
                                               reject_converted_layout,
                                               save_converted_checkpoint)

HEAD_PREFIX = 'bbox_head.head_module.'
# Entries of a PaddleDetection state_dict that hold no weights.
_HEAD_CACHES = ('anchor_points', 'stride_tensor')
_PROJ_KEY = 'proj_conv.weight'

# ---------------------------------------------------------------------------
# reading .pdparams
# ---------------------------------------------------------------------------
# (module, name) pairs a pickle of NumPy arrays refers to. NumPy 2 renamed
# numpy.core to numpy._core; files written under NumPy 1 use the old name.
_ALLOWED_GLOBALS = {
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('collections', 'OrderedDict'),
    # protocol-2 pickles written by Python 3 encode array bytes as latin-1
    # text and rebuild them with _codecs.encode (text -> bytes only)
    ('_codecs', 'encode'),
}


class PdparamsRefusedError(pickle.UnpicklingError):
    """The ``.pdparams`` file refers to an object outside the allow-list."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can build NumPy arrays and plain containers only."""

    def find_class(self, module: str, name: str) -> Any:
        is_dtype_class = module == 'numpy.dtypes' and name.endswith('DType')
        if (module, name) not in _ALLOWED_GLOBALS and not is_dtype_class:
            raise PdparamsRefusedError(
                f'refusing to load `{module}.{name}`: a PaddleDetection '
                '.pdparams file holds NumPy arrays only, so this file is not '
                'one (or was tampered with)')
        if module.startswith('numpy.core'):
            module = 'numpy._core' + module[len('numpy.core'):]
        return getattr(importlib.import_module(module), name)


def load_pdparams(src: str) -> Dict[str, np.ndarray]:
    """The arrays of a ``.pdparams`` file, by PaddleDetection name.

    Entries that are not arrays (``paddle.save``'s
    ``'StructuredToParameterName@@'`` table) are left out.

    Raises:
        PdparamsRefusedError: The pickle refers to a non-NumPy object.
        ValueError: The file is not a pickle of a dict.
    """
    with open(src, 'rb') as f:
        try:
            obj = _ArraysOnlyUnpickler(f).load()
        except PdparamsRefusedError as e:
            raise PdparamsRefusedError(f'{src}: {e}') from None
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise ValueError(
                f'{src} is not a pickled PaddleDetection state_dict '
                f'(.pdparams): {e}') from None
    if not isinstance(obj, dict):
        raise ValueError(f'{src}: expected a pickled dict of arrays, got '
                         f'{type(obj).__name__}')
    return {k: v for k, v in obj.items() if isinstance(v, np.ndarray)}


# ---------------------------------------------------------------------------
# renaming
# ---------------------------------------------------------------------------
def _rules(*pairs) -> List[Tuple['re.Pattern', Any]]:
    """Compile ``(pattern, replacement)`` pairs for ``re.sub``."""
    return [(re.compile(p), r) for p, r in pairs]


# Renames inside blocks, applied after the module paths are mapped.
_BLOCK_RULES = _rules(
    (r'\.convs\.spp\.conv\.', '.blocks.spp.conv2.'),
    (r'\.convs\.', '.blocks.'),
    (r'(\.blocks\.\d+\.conv2\.)conv1\.', r'\1rbr_dense.'),
    (r'(\.blocks\.\d+\.conv2\.)conv2\.', r'\1rbr_1x1.'),
    (r'\.attn\.fc\.', '.attn.fc.conv.'),
    (r'\._mean$', '.running_mean'),
    (r'\._variance$', '.running_var'),
)


@functools.lru_cache()
def _path_rules(num_levels: int) -> List[Tuple['re.Pattern', Any]]:
    """Module-path renames for a network with ``num_levels`` outputs."""
    last = num_levels - 1

    def head(branch: str) -> Callable:
        # PaddleDetection's level i is yolokit's level L - 1 - i
        return lambda m: f'{HEAD_PREFIX}{branch}.{last - int(m.group(1))}.'

    return _rules(
        (r'^backbone\.stem\.conv(\d+)\.',
         lambda m: f'backbone.stem.{int(m.group(1)) - 1}.'),
        (r'^backbone\.stages\.(\d+)\.',
         lambda m: f'backbone.stage{int(m.group(1)) + 1}.0.'),
        (r'^neck\.fpn_stages\.0\.', f'neck.reduce_layers.{last}.'),
        (r'^neck\.fpn_stages\.(\d+)\.',
         lambda m: f'neck.top_down_layers.{int(m.group(1)) - 1}.'),
        (r'^neck\.fpn_routes\.(\d+)\.',
         lambda m: f'neck.upsample_layers.{m.group(1)}.0.'),
        (r'^neck\.pan_stages\.(\d+)\.',
         lambda m: f'neck.bottom_up_layers.{last - 1 - int(m.group(1))}.'),
        (r'^neck\.pan_routes\.(\d+)\.',
         lambda m: f'neck.downsample_layers.{last - 1 - int(m.group(1))}.'),
        (r'^yolo_head\.stem_cls\.(\d+)\.', head('cls_stems')),
        (r'^yolo_head\.stem_reg\.(\d+)\.', head('reg_stems')),
        (r'^yolo_head\.pred_cls\.(\d+)\.', head('cls_preds')),
        (r'^yolo_head\.pred_reg\.(\d+)\.', head('reg_preds')),
    )


def rename_key(key: str, num_levels: int = 3) -> Optional[str]:
    """yolokit's name for one PaddleDetection key (with its top-level
    ``backbone.``/``neck.``/``yolo_head.`` prefix), or None if no module
    path rule applies."""
    for pattern, repl in _path_rules(num_levels):
        new_key, count = pattern.subn(repl, key, count=1)
        if count:
            break
    else:
        return None
    for pattern, repl in _BLOCK_RULES:
        new_key = pattern.sub(repl, new_key)
    return new_key


def _count_levels(keys) -> int:
    found = {
        int(m.group(1))
        for m in map(re.compile(r'^neck\.fpn_stages\.(\d+)\.').match, keys)
        if m
    }
    return max(found) + 1 if found else 3


def _check_projection(weight: np.ndarray) -> None:
    """``proj_conv`` must hold 0, 1, ..., reg_max (the DFL expectation)."""
    flat = weight.reshape(-1).astype(np.float64)
    if not np.array_equal(flat, np.arange(flat.size)):
        raise ValueError(
            f'yolo_head.{_PROJ_KEY} is expected to be 0, 1, ..., reg_max '
            '(the fixed DFL projection), but it holds other values; yolokit '
            'cannot represent a learned projection.')


def convert(src: Dict[str, np.ndarray],
            imagenet_pretrain: bool = False,
            to_float: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a PaddleDetection PP-YOLOE(+) state_dict to yolokit's keys.

    Args:
        src (dict[str, ndarray]): The arrays of the ``.pdparams`` file.
        imagenet_pretrain (bool): ``src`` is an ImageNet-pretrained
            ``CSPResNet`` (keys ``stem.*``/``stages.*``); only backbone keys
            are produced. Defaults to False.
        to_float (bool): Cast floating arrays to float32. Defaults to True.

    Returns:
        OrderedDict[str, Tensor]: The yolokit state_dict.

    Raises:
        ValueError: On keys that fit no rule, or a learned projection.
    """
    if imagenet_pretrain:
        src = {
            (f'backbone.{k}' if k.startswith(('stem.', 'stages.')) else k): v
            for k, v in src.items()
        }
    num_levels = _count_levels(src)
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown, skipped = [], []
    for key, value in src.items():
        if not key.startswith(('backbone.', 'neck.', 'yolo_head.')):
            skipped.append(key)  # not part of the detector (MMYOLO: same)
            continue
        if key.startswith('yolo_head.') and key.split('.')[1] in _HEAD_CACHES:
            continue
        if key == f'yolo_head.{_PROJ_KEY}':
            _check_projection(value)
            continue
        new_key = rename_key(key, num_levels)
        if new_key is None:
            unknown.append(key)
            continue
        tensor = torch.from_numpy(np.array(value))
        if to_float and tensor.is_floating_point():
            tensor = tensor.float()
        converted[new_key] = tensor
        if new_key.endswith('.running_var'):
            counter = new_key[:-len('running_var')] + 'num_batches_tracked'
            converted[counter] = torch.tensor(0, dtype=torch.long)
    if unknown:
        raise ValueError(
            f'{len(unknown)} key(s) fit no PP-YOLOE rule (CSPResNet '
            f'backbone, CustomCSPPAN neck, PPYOLOEHead): {unknown[:10]}')
    if not converted:
        raise ValueError(
            'no PP-YOLOE weights found; expected keys starting with '
            '"backbone.", "neck." or "yolo_head." (or "stem."/"stages." '
            f'with --imagenet-pretrain), got {sorted(src)[:10]}')
    if skipped:
        print_log(
            f'Skipped {len(skipped)} key(s) outside backbone/neck/yolo_head,'
            f' e.g. {skipped[:3]}',
            logger='current')
    return converted


def parse_args() -> argparse.Namespace:
    parser = converter_arg_parser(
        'Convert a PaddleDetection PP-YOLOE(+) checkpoint (.pdparams) to a '
        'yolokit checkpoint.', 'ppyoloe_plus_crn_s_80e_coco.pdparams',
        'yolokit_ppyoloe_plus_s.pth', 'PaddleDetection .pdparams path')
    parser.add_argument(
        '--imagenet-pretrain',
        action='store_true',
        help='the file is an ImageNet-pretrained CSPResNet backbone (keys '
        'without the "backbone." prefix)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    check_conversion_paths(args.src, args.dst)
    src_state_dict = load_pdparams(args.src)
    reject_converted_layout(src_state_dict, args.src)
    with naming_source(args.src, 'a PaddleDetection PP-YOLOE checkpoint'):
        state_dict = convert(
            src_state_dict,
            imagenet_pretrain=args.imagenet_pretrain,
            to_float=not args.keep_half)
    save_converted_checkpoint(state_dict, args.src, args.dst, 'PP-YOLOE')


if __name__ == '__main__':
    main()
