"""Safe loading of MMEngine checkpoints under weights-only ``torch.load``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any non-tensor object it does not know. Checkpoints written by MMEngine 0.10
hold a few such objects, so resuming or testing a checkpoint saved by
``tools/train.py`` would fail:

- the message hub's ``HistoryBuffer`` objects, whose pickled state holds
  NumPy arrays and the buffer's statistics methods (``HistoryBuffer.min``
  etc.), which pickle refers to as ``getattr(HistoryBuffer, 'min')``;
- NumPy arrays, dtypes and scalars in the message hub and the meta.

Rather than switching the safety off, exactly these types are added to
torch's allow-list. ``getattr`` itself is never allowed (with it a pickle can
reach arbitrary code); a restricted stand-in resolves only functions defined
on allow-listed classes such as ``HistoryBuffer``.
"""
import inspect
import pickle
from typing import Any, Callable, List, Tuple

import numpy as np
import torch

_registered = False

# Names under which pickle refers to the builtin ``getattr``: protocol 2
# (torch.save's default) writes the Python 2 name.
_GETATTR_NAMES = ('__builtin__.getattr', 'builtins.getattr')


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


def _method_owners() -> Tuple[type, ...]:
    """Classes whose plain functions a checkpoint may refer to by name."""
    from mmengine.logging import HistoryBuffer
    return (HistoryBuffer, )


def restricted_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` limited to public functions of allow-listed classes.

    Stands in for the builtin ``getattr`` during ``weights_only`` loads: a
    pickled ``HistoryBuffer`` refers to its statistics methods as
    ``getattr(HistoryBuffer, 'min')``. Anything else is refused.

    Raises:
        pickle.UnpicklingError: If ``obj`` is not an allow-listed class or
            ``name`` is not a public function defined on it.
    """
    owners = _method_owners()
    if (isinstance(obj, type) and obj in owners and isinstance(name, str)
            and not name.startswith('_')):
        for klass in obj.__mro__:
            if name in klass.__dict__:
                # Plain functions only: no properties, descriptors or data.
                if inspect.isfunction(klass.__dict__[name]):
                    return klass.__dict__[name]
                break
    raise pickle.UnpicklingError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint '
        'with weights_only=True: only public methods of '
        f'{", ".join(o.__qualname__ for o in owners)} may be looked up.')


def checkpoint_safe_globals() -> List[Any]:
    """The objects MMEngine/yolokit checkpoints contain besides tensors."""
    from mmengine.logging import HistoryBuffer
    getattr_entries = [(restricted_getattr, name) for name in _GETATTR_NAMES]
    return [HistoryBuffer] + getattr_entries + _numpy_globals()


def register_checkpoint_globals() -> None:
    """Allow-list the types of MMEngine checkpoints for ``weights_only`` loads.

    After this, checkpoints saved by ``tools/train.py`` (message hub, meta,
    optimizer, EMA weights) load with a plain ``torch.load(path)``, as
    MMEngine's ``load_checkpoint``, ``resume`` and ``load_from`` do.
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
