"""Safe loading of MMEngine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any non-tensor object it does not know. Checkpoints written by MMEngine 0.10
hold a few such objects (the message hub's ``HistoryBuffer`` and NumPy
arrays/scalars in the logged meta), so resuming or testing a checkpoint saved
by ``tools/train.py`` would fail. Rather than switching the safety off, the
exact types these checkpoints need are added to torch's allow-list.
"""
from typing import Any, List

import numpy as np
import torch

_registered = False


def _numpy_globals() -> List[Any]:
    """NumPy callables/types pickled with arrays, dtypes and scalars."""
    found: List[Any] = [np.ndarray, np.dtype]
    # NumPy 2 moved numpy.core to numpy._core; pickles made under either
    # name resolve to the object in this module, so allow-list that object
    # under both names torch may see.
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = __import__(mod_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        for attr in ('_reconstruct', 'scalar'):
            obj = getattr(mod, attr, None)
            if obj is not None:
                found.append((obj, f'{mod_name}.{attr}'))
    # dtype classes such as numpy.dtypes.Float64DType (NumPy >= 1.25)
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:
        for name in dir(dtypes_mod):
            if name.endswith('DType'):
                found.append(getattr(dtypes_mod, name))
    return found


def checkpoint_safe_globals() -> List[Any]:
    """The objects MMEngine/yolokit checkpoints contain besides tensors."""
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer] + _numpy_globals()


def register_checkpoint_globals() -> None:
    """Allow-list the types of MMEngine checkpoints for ``weights_only`` loads.

    Idempotent. Does nothing on torch versions without
    ``torch.serialization.add_safe_globals`` (they do not restrict loading).
    """
    global _registered
    if _registered:
        return
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals(checkpoint_safe_globals())
    _registered = True
