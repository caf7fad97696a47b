"""Convert an official YOLOv5 (v6.x / v7.0) detection checkpoint to yolokit.

The official repository stores its layers in one flat ``nn.Sequential``
(``model.<index>.*``); yolokit splits the same network into
``backbone`` (``YOLOv5CSPDarknet``), ``neck`` (``YOLOv5PAFPN``) and
``bbox_head`` (``YOLOv5Head``). The layer-index -> module-path table is
derived from the official layout rules for P5 (24 layers, ``Detect`` at 24)
and P6 (33 layers, ``Detect`` at 33) models, so no per-key table is needed.

Inputs accepted by ``--src``:

* an official checkpoint (``torch.save({'model': model, 'ema': ...})`` of
  the pickled model object, usually half precision). Unpickling it needs the
  official classes: either run inside a clone of the official repository
  (its ``models``/``utils`` packages are importable), or install the
  ``yolov5`` PyPI package, in which case the pickled ``models.*`` and
  ``utils.*`` names are resolved to ``yolov5.models.*`` / ``yolov5.utils.*``;
* a plain state_dict of an official model (``model.state_dict()``), or a
  ``{'state_dict': ...}`` / ``{'model': state_dict}`` dict of one. This path
  needs neither the official code nor the ``yolov5`` package.

Unpickling executes code stored in the file: only convert checkpoints from
sources you trust.

Example:
    python tools/model_converters/yolov5_to_yolokit.py \\
        --src yolov5s.pt --dst yolokit_yolov5s.pth
"""
import argparse
import importlib.util
import pickle
import re
import types
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

# Number of output levels per official architecture.
ARCH_NUM_LEVELS = {'P5': 3, 'P6': 4}

# Top-level packages of the official repository that its pickles refer to
# (``models.yolo.DetectionModel``, ``models.common.C3``, ...).
_OFFICIAL_ROOT_PACKAGES = ('models', 'utils')
_PIP_PACKAGE = 'yolov5'

# Parameters and buffers of an official ``Conv`` (conv + bn + act), whose
# child names are those of ``ConvModule``.
_CONV_LEAF = (r'(conv\.weight|bn\.(?:weight|bias|running_mean|running_var'
              r'|num_batches_tracked))$')

# Renames inside one official layer, by layer kind. Official ``C3`` computes
# ``cv3(cat(m(cv1(x)), cv2(x)))``, which is mmdet's ``CSPLayer``
# ``final_conv(cat(blocks(main_conv(x)), short_conv(x)))``; its
# ``Bottleneck`` ``cv1``/``cv2`` are ``DarknetBottleneck`` ``conv1``/``conv2``.
_C3_RENAMES = (
    (re.compile(r'^cv1\.' + _CONV_LEAF), r'main_conv.\1'),
    (re.compile(r'^cv2\.' + _CONV_LEAF), r'short_conv.\1'),
    (re.compile(r'^cv3\.' + _CONV_LEAF), r'final_conv.\1'),
    (re.compile(r'^m\.(\d+)\.cv1\.' + _CONV_LEAF), r'blocks.\1.conv1.\2'),
    (re.compile(r'^m\.(\d+)\.cv2\.' + _CONV_LEAF), r'blocks.\1.conv2.\2'),
)
_SPPF_RENAMES = (
    (re.compile(r'^cv1\.' + _CONV_LEAF), r'conv1.\1'),
    (re.compile(r'^cv2\.' + _CONV_LEAF), r'conv2.\1'),
)
_CONV_RENAMES = ((re.compile('^' + _CONV_LEAF), r'\1'), )
_DETECT_RENAMES = ((re.compile(r'^m\.(\d+)\.(weight|bias)$'), r'\1.\2'), )
_RENAMES = {
    'conv': _CONV_RENAMES,
    'c3': _C3_RENAMES,
    'sppf': _SPPF_RENAMES,
    'detect': _DETECT_RENAMES,
}
# Detect buffers that yolokit rebuilds from the config (its prior generator).
_DETECT_DROPPED = re.compile(r'^(anchors|anchor_grid)(\.\d+)?$')

_LAYER_KEY = re.compile(r'^model\.(\d+)\.(.+)$')


def build_layer_mapping(arch: str = 'P5') -> Dict[int, Tuple[str, str]]:
    """Map each official layer index to ``(yolokit module path, kind)``.

    ``kind`` is one of ``'conv'``, ``'c3'``, ``'sppf'`` and ``'detect'``.
    Indices of parameter-free layers (``nn.Upsample``, ``Concat``) are absent.

    Official layout with ``L`` output levels (3 for P5, 4 for P6):

    * layer 0 is the stem conv; stage ``s`` (1..L+1) is a stride-2 conv at
      ``2s-1`` followed by a C3 at ``2s``; SPPF closes the last stage;
    * top-down path: a 1x1 conv on the deepest feature, then per step
      upsample, concat and a C3, each C3 but the last followed by a 1x1 conv;
    * bottom-up path: per step a stride-2 conv, concat and a C3;
    * ``Detect`` comes last.

    Args:
        arch (str): ``'P5'`` or ``'P6'``.

    Returns:
        dict[int, tuple[str, str]]: The mapping.
    """
    if arch not in ARCH_NUM_LEVELS:
        raise ValueError(f'arch must be one of {sorted(ARCH_NUM_LEVELS)}, '
                         f'but got {arch!r}')
    num_levels = ARCH_NUM_LEVELS[arch]
    num_stages = num_levels + 1
    mapping: Dict[int, Tuple[str, str]] = {0: ('backbone.stem', 'conv')}
    for stage in range(1, num_stages + 1):
        mapping[2 * stage - 1] = (f'backbone.stage{stage}.0', 'conv')
        mapping[2 * stage] = (f'backbone.stage{stage}.1', 'c3')
    index = 2 * num_stages + 1
    mapping[index] = (f'backbone.stage{num_stages}.2', 'sppf')

    # yolokit keeps only the deepest reduce layer (the others are Identity).
    index += 1
    mapping[index] = (f'neck.reduce_layers.{num_levels - 1}', 'conv')
    for step in range(num_levels - 1):
        index += 3  # skip upsample and concat
        if step == num_levels - 2:
            mapping[index] = (f'neck.top_down_layers.{step}', 'c3')
        else:
            mapping[index] = (f'neck.top_down_layers.{step}.0', 'c3')
            index += 1
            mapping[index] = (f'neck.top_down_layers.{step}.1', 'conv')

    for step in range(num_levels - 1):
        index += 1
        mapping[index] = (f'neck.downsample_layers.{step}', 'conv')
        index += 2  # skip concat
        mapping[index] = (f'neck.bottom_up_layers.{step}', 'c3')

    mapping[index + 1] = ('bbox_head.head_module.convs_pred', 'detect')
    return mapping


def detect_layer_index(arch: str) -> int:
    """Index of the official ``Detect`` layer (24 for P5, 33 for P6)."""
    return max(build_layer_mapping(arch))


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> str:
    """Tell P5 from P6 by where the official ``Detect`` layer sits.

    ``Detect`` is the only layer with direct conv children ``m.<i>.weight``
    (a C3's ``m`` holds bottlenecks).
    """
    detect_indices = set()
    for key in state_dict:
        match = _LAYER_KEY.match(key)
        if match and re.match(r'^m\.\d+\.weight$', match.group(2)):
            detect_indices.add(int(match.group(1)))
    by_index = {detect_layer_index(arch): arch for arch in ARCH_NUM_LEVELS}
    found = [by_index[i] for i in detect_indices if i in by_index]
    if len(detect_indices) != 1 or not found:
        raise ValueError(
            'Cannot infer the YOLOv5 architecture: expected one Detect layer '
            f'(keys "model.<i>.m.<j>.weight") at index '
            f'{sorted(by_index)} ({sorted(ARCH_NUM_LEVELS)}), but found it at '
            f'{sorted(detect_indices) or "no index"}. Pass arch explicitly '
            'if the checkpoint is a supported P5/P6 detection model.')
    return found[0]


def _rename_in_layer(kind: str, sub_key: str) -> Optional[str]:
    for pattern, repl in _RENAMES[kind]:
        if pattern.match(sub_key):
            return pattern.sub(repl, sub_key, count=1)
    return None


def convert(src_state_dict: Dict[str, torch.Tensor],
            arch: Optional[str] = None,
            to_float: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an official YOLOv5 state_dict to yolokit's key layout.

    Args:
        src_state_dict (dict[str, Tensor]): State dict of an official
            ``DetectionModel`` (keys ``model.<index>.<...>``).
        arch (str, optional): ``'P5'`` or ``'P6'``; inferred from the
            position of the ``Detect`` layer when None.
        to_float (bool): Cast floating tensors (official checkpoints are
            half precision) to float32. Defaults to True.

    Returns:
        OrderedDict[str, Tensor]: The yolokit state_dict, loadable with
        ``strict=True`` into the model of the matching yolokit config. The
        ``Detect`` anchors are dropped: yolokit takes them from the config.

    Raises:
        ValueError: On keys that do not belong to the given architecture.
    """
    state_dict = strip_wrapper_prefix(dict(src_state_dict))
    if arch is None:
        arch = infer_arch(state_dict)
    mapping = build_layer_mapping(arch)

    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown: List[str] = []
    for key, value in state_dict.items():
        match = _LAYER_KEY.match(key)
        if match is None:
            unknown.append(key)
            continue
        index, sub_key = int(match.group(1)), match.group(2)
        if index not in mapping:
            unknown.append(key)
            continue
        target, kind = mapping[index]
        if kind == 'detect' and _DETECT_DROPPED.match(sub_key):
            continue
        new_sub_key = _rename_in_layer(kind, sub_key)
        if new_sub_key is None:
            unknown.append(key)
            continue
        if to_float and torch.is_tensor(value) and value.is_floating_point():
            value = value.float()
        converted[f'{target}.{new_sub_key}'] = value

    if unknown:
        shown = ', '.join(unknown[:10])
        more = f' (and {len(unknown) - 10} more)' if len(unknown) > 10 else ''
        hint = ''
        if 'model.0.conv.conv.weight' in state_dict:
            hint = (' Layer 0 is a Focus stem: checkpoints before YOLOv5 '
                    'v6.0 are not supported.')
        raise ValueError(
            f'{len(unknown)} key(s) do not fit the official YOLOv5 {arch} '
            f'detection layout: {shown}{more}. Expected '
            f'"model.<index>.<name>" with layer indices {sorted(mapping)}.'
            f'{hint}')
    return converted


# ---------------------------------------------------------------------------
# loading official checkpoints
# ---------------------------------------------------------------------------
def _official_module_name(module: str, use_pip_package: bool) -> str:
    """Where to find a class an official pickle names ``module.name``."""
    if use_pip_package and module.split('.')[0] in _OFFICIAL_ROOT_PACKAGES:
        return f'{_PIP_PACKAGE}.{module}'
    return module


def _make_pickle_module() -> types.ModuleType:
    """A ``pickle`` stand-in whose Unpickler resolves official class names.

    When the ``yolov5`` PyPI package is installed, ``models.*``/``utils.*``
    resolve to ``yolov5.models.*``/``yolov5.utils.*``; otherwise the names
    are kept, which works inside a clone of the official repository. Only
    the lookup is redirected: no alias is registered in ``sys.modules``.
    """
    use_pip_package = importlib.util.find_spec(_PIP_PACKAGE) is not None

    class OfficialUnpickler(pickle.Unpickler):

        def find_class(self, module, name):
            target = _official_module_name(module, use_pip_package)
            try:
                return super().find_class(target, name)
            except ImportError as e:
                if module.split('.')[0] not in _OFFICIAL_ROOT_PACKAGES:
                    raise
                where = (f'the "{_PIP_PACKAGE}" package'
                         if use_pip_package else 'the current directory')
                raise ImportError(
                    f'The checkpoint is a pickled official YOLOv5 model and '
                    f'needs the class {module}.{name}, which could not be '
                    f'imported from {where} ({type(e).__name__}: {e}). Run '
                    'the converter inside a clone of the official YOLOv5 '
                    f'repository, install the "{_PIP_PACKAGE}" package, or '
                    'pass a plain state_dict saved with '
                    'torch.save(model.state_dict(), ...).') from e

    pickle_module = types.ModuleType('yolov5_official_pickle')
    pickle_module.Unpickler = OfficialUnpickler
    pickle_module.load = lambda f, **kwargs: OfficialUnpickler(f,
                                                               **kwargs).load()
    return pickle_module


def load_official_checkpoint(src: str) -> Dict[str, torch.Tensor]:
    """Load the state_dict of an official YOLOv5 checkpoint file.

    Plain state_dicts load with ``weights_only=True``; only a file holding
    pickled model objects falls back to full unpickling (which needs the
    official classes, see the module docstring). A file that is no
    checkpoint at all raises
    :class:`~yolokit.utils.checkpoint_safety.UnreadableCheckpointError`.
    """
    try:
        obj = load_weights_only(src)
    except CheckpointRefusedError:
        print_log(
            f'{src} holds pickled Python objects (an official checkpoint); '
            'unpickling it with the official YOLOv5 classes.',
            logger='current')
        obj = torch.load(
            src,
            map_location='cpu',
            weights_only=False,
            pickle_module=_make_pickle_module())
    return extract_state_dict(obj, src)


def parse_args() -> argparse.Namespace:
    parser = converter_arg_parser(
        'Convert an official YOLOv5 v6.x/v7.0 detection checkpoint to a '
        'yolokit checkpoint.', 'yolov5s.pt', 'yolokit_yolov5s.pth',
        'official checkpoint path')
    parser.add_argument(
        '--arch',
        choices=sorted(ARCH_NUM_LEVELS),
        default=None,
        help='official architecture; inferred from the checkpoint if unset')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    check_conversion_paths(args.src, args.dst)
    src_state_dict = load_official_checkpoint(args.src)
    reject_converted_layout(src_state_dict, args.src)
    with naming_source(args.src, 'an official YOLOv5 v6.x/v7.0 checkpoint'):
        arch = args.arch or infer_arch(strip_wrapper_prefix(src_state_dict))
        state_dict = convert(
            src_state_dict, arch=arch, to_float=not args.keep_half)
    save_converted_checkpoint(state_dict, args.src, args.dst, f'YOLOv5 {arch}')


if __name__ == '__main__':
    main()
