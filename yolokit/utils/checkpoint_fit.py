"""Does a checkpoint hold the weights of the model it is loaded into?

MMEngine loads ``load_from`` with ``strict=False``: keys that do not match
are only logged, so testing a checkpoint of another architecture evaluates
randomly initialised weights and exits normally. The rule here: every
weight of the model must come from the checkpoint, with its shape. Extra
checkpoint entries are only reported, and a few entries are ignored:

* ``ema_*`` checkpoint entries (EMA copies, which the EMA hook handles);
* ``data_preprocessor.*`` on either side (normalisation constants, not
  learnt; yolokit's preprocessors keep no state);
* a missing ``num_batches_tracked`` (older checkpoints lack it; BatchNorm
  starts it at 0).
"""
import re
from typing import Any, List, Mapping, NamedTuple, Optional, Tuple

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper

Shape = Optional[Tuple[int, ...]]

# What MMEngine's Runner.load_checkpoint strips from checkpoint keys.
_WRAPPER_PREFIX = re.compile(r'^module\.')
_NUM_EXAMPLES = 3


class StateDictFit(NamedTuple):
    """How a checkpoint's weights match a model's state_dict."""
    num_model_keys: int  # compared keys of the model
    missing: List[str]  # model keys the checkpoint lacks
    unexpected: List[str]  # checkpoint keys the model lacks
    # (key, shape in the model, shape in the checkpoint)
    shape_mismatched: List[Tuple[str, Shape, Shape]]

    @property
    def loads_every_weight(self) -> bool:
        """Whether every model weight gets a value of the right shape."""
        return not self.missing and not self.shape_mismatched


class CheckpointMismatchError(RuntimeError):
    """A checkpoint lacks weights of the model, or has other shapes.

    A ``RuntimeError``, as torch's ``load_state_dict(strict=True)`` raises.
    """


def _shape(value: Any) -> Shape:
    shape = getattr(value, 'shape', None)
    return None if shape is None else tuple(shape)


def checkpoint_weights(checkpoint: Mapping) -> Mapping[str, Any]:
    """The state_dict of a loaded checkpoint, keyed as MMEngine loads it."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    return {_WRAPPER_PREFIX.sub('', k): v for k, v in state_dict.items()}


def compare_state_dicts(model_shapes: Mapping[str, Shape],
                        weights: Mapping[str, Any]) -> StateDictFit:
    """Match checkpoint ``weights`` against a model's keys and shapes.

    Args:
        model_shapes (Mapping[str, tuple]): ``key -> shape`` of the model's
            state_dict.
        weights (Mapping[str, Any]): The checkpoint's state_dict (values
            with a ``shape``).

    Returns:
        StateDictFit: Missing, unexpected and shape-mismatched keys, after
        the exemptions of the module docstring.
    """
    model = {
        k: s
        for k, s in model_shapes.items()
        if not k.startswith('data_preprocessor.')
    }
    ckpt = {
        k: _shape(v)
        for k, v in weights.items()
        if not k.startswith(('ema_', 'data_preprocessor.'))
    }
    missing = [
        k for k in model
        if k not in ckpt and not k.endswith('num_batches_tracked')
    ]
    unexpected = [k for k in ckpt if k not in model]
    mismatched = [(k, model[k], ckpt[k]) for k in model
                  if k in ckpt and model[k] != ckpt[k]]
    return StateDictFit(len(model), missing, unexpected, mismatched)


def _examples(items: List[Any]) -> str:
    shown = ', '.join(map(str, items[:_NUM_EXAMPLES]))
    return shown + (', ...' if len(items) > _NUM_EXAMPLES else '')


def describe_misfit(fit: StateDictFit, checkpoint_name: str,
                    config_name: str) -> str:
    """The error message of a checkpoint that does not fit the model."""
    parts = []
    if fit.missing:
        parts.append(f'{len(fit.missing)} are missing from the checkpoint '
                     f'(e.g. {_examples(fit.missing)})')
    if fit.shape_mismatched:
        shapes = [
            f'{k}: model {m} vs checkpoint {c}'
            for k, m, c in fit.shape_mismatched
        ]
        parts.append(f'{len(fit.shape_mismatched)} have another shape in '
                     f'the checkpoint ({_examples(shapes)})')
    extra = (f'; the checkpoint also has {len(fit.unexpected)} entries the '
             f'model does not (e.g. {_examples(fit.unexpected)})'
             if fit.unexpected else '')
    return (f'Checkpoint {checkpoint_name} does not fit the model of config '
            f'{config_name}: of the model\'s {fit.num_model_keys} weights, '
            f'{" and ".join(parts)}{extra}. Its weights would stay randomly '
            'initialised. Expected a checkpoint trained with this config (or '
            'converted for it); is it one of another architecture or model '
            'size?')


def unwrap_model(model: nn.Module) -> nn.Module:
    """The detector inside DDP and TTA wrappers (what MMEngine loads)."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def check_checkpoint_fits(model: nn.Module, checkpoint: Mapping,
                          checkpoint_name: str,
                          config_name: str) -> StateDictFit:
    """Raise unless ``checkpoint`` provides every weight of ``model``.

    Args:
        model (nn.Module): The model (wrappers are looked through).
        checkpoint (Mapping): The loaded checkpoint (or a state_dict).
        checkpoint_name (str): Its file or URL, for the messages.
        config_name (str): The config of the model, for the messages.

    Returns:
        StateDictFit: The comparison (extra entries are logged).

    Raises:
        CheckpointMismatchError: A model weight is missing from the
            checkpoint or has another shape there.
    """
    model_shapes = {
        k: tuple(v.shape)
        for k, v in unwrap_model(model).state_dict().items()
    }
    fit = compare_state_dicts(model_shapes, checkpoint_weights(checkpoint))
    if not fit.loads_every_weight:
        raise CheckpointMismatchError(
            describe_misfit(fit, checkpoint_name, config_name))
    if fit.unexpected:
        print_log(
            f'Checkpoint {checkpoint_name} has {len(fit.unexpected)} entries '
            f'that config {config_name}\'s model does not use (e.g. '
            f'{_examples(fit.unexpected)}); every model weight was found.',
            logger='current',
            level=30)  # logging.WARNING
    return fit


def check_checkpoint_file_fits(model: nn.Module, filename: str,
                               config_name: str) -> StateDictFit:
    """:func:`check_checkpoint_fits` for a checkpoint file or URL.

    The file is read through MMEngine's ``CheckpointLoader`` (URLs come
    from the download cache), to CPU memory.
    """
    from mmengine.runner import CheckpointLoader
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    return check_checkpoint_fits(model, checkpoint, filename, config_name)


class CheckpointFitHook(Hook):
    """Stop a test run whose checkpoint does not fit the model.

    Registered by ``tools/test.py``. The runner calls
    ``after_load_checkpoint`` with the loaded checkpoint before copying the
    weights into the model, so a misfit stops the run before any data is
    evaluated or written.

    Args:
        checkpoint_name (str): The checkpoint given to the tool.
        config_name (str): The config given to the tool.
    """
    priority = 'VERY_HIGH'

    def __init__(self, checkpoint_name: str, config_name: str) -> None:
        self.checkpoint_name = checkpoint_name
        self.config_name = config_name

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        check_checkpoint_fits(runner.model, checkpoint, self.checkpoint_name,
                              self.config_name)
