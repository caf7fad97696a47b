"""Reading the weights out of checkpoints written by the official repos.

Used by the converters in ``tools/model_converters``: official YOLOv5,
Ultralytics and Megvii YOLOX checkpoints keep their weights under
different keys, as pickled models or as plain state_dicts.
"""
import argparse
import contextlib
import os.path as osp
from typing import Any, Dict, Iterator, Mapping

import torch
from mmengine.logging import print_log

# Only yolokit's (and MMYOLO's) heads keep their convs under this prefix.
_CONVERTED_HEAD_PREFIX = 'bbox_head.head_module.'


def strip_wrapper_prefix(state_dict: Dict[str, Any]) -> Dict[str, Any]:
    """Drop a ``module.`` prefix left by (Distributed)DataParallel.

    Args:
        state_dict (dict): Weights, possibly saved from a wrapped model.

    Returns:
        dict: The weights with bare keys (the input if nothing to strip).
    """
    if state_dict and all(k.startswith('module.') for k in state_dict):
        return {k[len('module.'):]: v for k, v in state_dict.items()}
    return state_dict


def extract_state_dict(obj: Any, src: str) -> Dict[str, torch.Tensor]:
    """Pick the weights out of whatever an official checkpoint file holds.

    Looks, in order, at ``ema``, ``model`` and ``state_dict`` (training
    checkpoints keep both the EMA and the raw model; the EMA is what the
    official repos evaluate), each either a pickled ``nn.Module`` or a
    state_dict, and finally accepts a plain state_dict.

    Args:
        obj: What ``torch.load`` returned.
        src (str): The file it came from, for error messages.

    Returns:
        dict: The state_dict.

    Raises:
        TypeError: ``obj`` is neither a dict nor a model.
        KeyError: No weights found in the dict.
    """
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if not isinstance(obj, dict):
        raise TypeError(f'{src}: expected a checkpoint dict or a model, got '
                        f'{type(obj).__name__}')
    for key in ('ema', 'model', 'state_dict'):
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, torch.nn.Module):
            print_log(f'Using ckpt["{key}"] of {src}', logger='current')
            return value.state_dict()
        if isinstance(value, dict):
            return value
    if obj and all(torch.is_tensor(v) for v in obj.values()):
        return obj
    raise KeyError(f'{src}: no weights found; expected a model under "ema" '
                   f'or "model", a "state_dict", or a plain state_dict, but '
                   f'the top-level keys are {sorted(map(str, obj))[:20]}')


def check_conversion_paths(src: str, dst: str) -> None:
    """Fail before loading anything if ``--src``/``--dst`` cannot work.

    Raises:
        FileNotFoundError: ``src`` is not an existing file, or the folder
            of ``dst`` does not exist.
        ValueError: ``dst`` is ``src`` (the source would be overwritten)
            or an existing folder.
    """
    if not osp.isfile(src):
        what = 'is a directory' if osp.isdir(src) else 'does not exist'
        raise FileNotFoundError(
            f'--src {src} {what}; expected the checkpoint file to convert.')
    if osp.exists(dst) and osp.samefile(src, dst):
        raise ValueError(f'--dst {dst} is the --src file; expected a new '
                         'path (the source would be overwritten).')
    if osp.isdir(dst):
        raise ValueError(f'--dst {dst} is a directory; expected the path '
                         'of the file to write.')
    folder = osp.dirname(dst)
    if folder and not osp.isdir(folder):
        raise FileNotFoundError(f'--dst {dst}: its folder {folder} does not '
                                'exist; create it first.')


def reject_converted_layout(state_dict: Mapping[str, Any], src: str) -> None:
    """Refuse a checkpoint that is already in yolokit's key layout.

    Raises:
        ValueError: ``state_dict`` has ``bbox_head.head_module.*`` keys.
    """
    converted = [k for k in state_dict if k.startswith(_CONVERTED_HEAD_PREFIX)]
    if converted:
        raise ValueError(
            f'{src} is already a yolokit/MMYOLO checkpoint (it has keys such '
            f'as {converted[0]}); load it directly with the matching yolokit '
            'config instead of converting it.')


@contextlib.contextmanager
def naming_source(src: str, expected: str) -> Iterator[None]:
    """Prefix the converter's layout errors with the file and its kind.

    ``ValueError`` and ``KeyError`` raised inside (keys that do not fit the
    expected layout) are raised again, same type, as ``'<src> is not
    <expected>: <reason>'``.
    """
    try:
        yield
    except (ValueError, KeyError) as e:
        reason = e.args[0] if e.args else type(e).__name__
        raise type(e)(f'{src} is not {expected}: {reason}') from None


def converter_arg_parser(description: str, default_src: str,
                         default_dst: str,
                         src_help: str) -> argparse.ArgumentParser:
    """The ``--src``, ``--dst`` and ``--keep-half`` options every
    checkpoint converter in ``tools/model_converters`` takes.

    Args:
        description (str): What the converter converts.
        default_src (str): Default of ``--src``.
        default_dst (str): Default of ``--dst``.
        src_help (str): Help text of ``--src``.

    Returns:
        argparse.ArgumentParser: The parser; a converter may add options.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--src', default=default_src, help=src_help)
    parser.add_argument('--dst', default=default_dst, help='output path')
    parser.add_argument(
        '--keep-half',
        action='store_true',
        help='keep the source precision instead of converting to float32')
    return parser


def save_converted_checkpoint(state_dict: Dict[str, torch.Tensor], src: str,
                              dst: str, what: str) -> None:
    """Save converted weights as a yolokit checkpoint and log it.

    Args:
        state_dict (dict): The converted weights.
        src (str): The official checkpoint they came from.
        dst (str): Output path.
        what (str): The model, for the log line (e.g. ``'YOLOv8'``).
    """
    torch.save({'state_dict': state_dict}, dst)
    print_log(
        f'Converted {src} ({what}, {len(state_dict)} tensors) to {dst}',
        logger='current')
