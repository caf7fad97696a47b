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

When torch still refuses a file (a type nobody allow-listed) or cannot read
it at all, :func:`explain_load_errors` re-raises with the file's name, the
refused global and the safe ways forward. :func:`route_checkpoint_loaders`
sends every MMEngine checkpoint load (``resume``, ``load_from``,
``init_detector``) through it.
"""
import contextlib
import functools
import inspect
import os.path as osp
import pickle
import re
from typing import Any, Callable, Iterator, List, Optional, Tuple

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


# The first bytes of torch.save's two formats.
_ZIP_MAGIC, _PICKLE_PROTOCOL = b'PK\x03\x04', b'\x80'
# torch's weights-only unpickler names what it refused like this.
_REFUSED_GLOBAL = re.compile(r'Unsupported global: GLOBAL (\S+)')
_UNPICKLER_REASON = re.compile(r'WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)',
                               re.S)


class CheckpointRefusedError(pickle.UnpicklingError):
    """``torch.load(weights_only=True)`` refused an object of the file.

    Attributes:
        filename (str): The checkpoint.
        global_name (str): The refused global (``module.Name``), or ``''``
            when torch's message names none.
    """

    def __init__(self, filename: str, global_name: str, reason: str = ''):
        self.filename, self.global_name = filename, global_name
        self.reason = reason
        resave = (
            're-save the checkpoint with tensors and plain Python values '
            "only, e.g. torch.save({'state_dict': model.state_dict()}, "
            "'clean.pth') where the model is loaded, and use the new "
            'file')
        if global_name:
            found = f'`{global_name}`, a type that is not on the allow-list'
            ways = (f'(1) {resave}; or (2) if you trust the file and '
                    f'`{global_name}`, allow-list it before loading with '
                    f'torch.serialization.add_safe_globals([{global_name}]) '
                    "(for the tools: in a module of the config's "
                    'custom_imports)')
        else:
            found = f'an object it does not allow ({reason})'
            ways = resave
        super().__init__(
            f'Checkpoint {filename}: safe loading (torch.load with '
            f'weights_only=True) refused it because it contains {found}. '
            f'To load it safely: {ways}.')

    def __reduce__(self):
        return type(self), (self.filename, self.global_name, self.reason)


class UnreadableCheckpointError(pickle.UnpicklingError, EOFError, RuntimeError,
                                KeyError, IndexError):
    """``torch.load`` cannot read the file: not a checkpoint, or truncated.

    Torch raises one of ``UnpicklingError``, ``EOFError``, ``RuntimeError``,
    ``KeyError`` or ``IndexError`` depending on the bytes it meets; this
    error is all of them, so existing handlers keep working.
    """

    def __str__(self) -> str:
        # KeyError.__str__ would show the repr (quotes, escaped newlines).
        return str(self.args[0]) if self.args else ''


def refused_global(error: BaseException) -> Optional[str]:
    """The global a weights-only load refused, parsed from torch's message.

    Returns:
        str or None: e.g. ``'argparse.Namespace'``; None if ``error`` is not
        such a refusal.
    """
    match = _REFUSED_GLOBAL.search(str(error))
    return match.group(1) if match else None


def _load_failure_reason(error: BaseException) -> str:
    """torch's reason for a failed load, without its advice."""
    if isinstance(error, EOFError):
        return 'the file ends early: empty or truncated'
    if isinstance(error, (KeyError, IndexError)):
        return 'its pickle data is corrupt'
    match = _UNPICKLER_REASON.search(str(error))
    reason = match.group(1) if match else str(error).split('. ')[0]
    return ' '.join(reason.split())


def check_checkpoint_signature(filename: str) -> None:
    """Refuse a local file that is no ``torch.save`` output at all.

    ``torch.save`` writes a zip archive (``PK``) or, in the legacy format,
    a pickle (protocol byte ``0x80``). On other bytes torch's unpickler
    fails with whatever error the bytes lead to (``KeyError``,
    ``IndexError``, ...), so they are recognised here, before loading.

    Raises:
        UnreadableCheckpointError: The file starts with other bytes.
    """
    if not (isinstance(filename, str) and osp.isfile(filename)):
        return  # URLs, buffers: left to the loader
    with open(filename, 'rb') as f:
        head = f.read(4)
    if not head.startswith((_ZIP_MAGIC, _PICKLE_PROTOCOL)):
        what = 'an empty file' if not head else f'bytes {head!r}'
        raise UnreadableCheckpointError(
            f'Checkpoint {filename} is not a file torch.load can read (it '
            f'starts with {what}, not a zip archive or pickle); expected a '
            'checkpoint saved with torch.save (a .pth file). Check the path.')


def _raised_by_torch(error: BaseException) -> bool:
    """Whether the innermost frame of ``error`` is in torch's code."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get('__name__',
                                                        '').startswith('torch')


def _is_torch_read_error(error: BaseException) -> bool:
    if isinstance(error, pickle.UnpicklingError):
        return True
    # Bytes torch's unpickler cannot make sense of; the same types raised
    # elsewhere (e.g. an unknown open-mmlab:// model name) are not.
    if isinstance(error, (EOFError, KeyError, IndexError)):
        return _raised_by_torch(error)
    # torch's zip and legacy readers; other RuntimeErrors (e.g. a
    # map_location to a missing GPU) are not about the file
    return isinstance(error, RuntimeError) and any(
        s in str(error) for s in ('PytorchStreamReader', 'unexpected EOF'))


@contextlib.contextmanager
def explain_load_errors(filename: str) -> Iterator[None]:
    """Re-raise ``torch.load`` failures of ``filename`` with its name.

    A local file that is not ``torch.save`` output is refused first (see
    :func:`check_checkpoint_signature`). A refused global (or a ``getattr``
    that :func:`restricted_getattr` refuses) becomes
    :class:`CheckpointRefusedError`; a corrupt or truncated file
    :class:`UnreadableCheckpointError`. torch's own message is
    dropped (``from None``): it suggests ``weights_only=False``, which runs
    any code the file contains.
    """
    check_checkpoint_signature(filename)
    try:
        yield
    except CheckpointRefusedError:
        raise
    except Exception as e:  # noqa: B902 (filtered just below)
        if not _is_torch_read_error(e):
            raise
        reason = _load_failure_reason(e)
        name = refused_global(e)
        if name is not None or reason.startswith('Refusing getattr'):
            raise CheckpointRefusedError(filename, name or '',
                                         reason) from None
        raise UnreadableCheckpointError(
            f'Checkpoint {filename} is not a file torch.load can read '
            f'({reason}); expected a checkpoint saved with torch.save (a '
            '.pth file). Check the path and that the file is complete.'
        ) from None


def load_weights_only(filename: str, map_location: Any = 'cpu') -> Any:
    """``torch.load(filename, weights_only=True)`` with explained errors.

    Raises:
        FileNotFoundError: No such file.
        CheckpointRefusedError: It holds a type that is not allow-listed.
        UnreadableCheckpointError: It is not a readable checkpoint.
    """
    with explain_load_errors(filename):
        return torch.load(
            filename, map_location=map_location, weights_only=True)


def _explaining(loader: Callable) -> Callable:
    """An MMEngine scheme loader whose errors name the checkpoint."""

    # functools.wraps keeps __name__: MMEngine logs it as the backend name
    @functools.wraps(loader)
    def load(filename, *args, **kwargs):
        with explain_load_errors(filename):
            return loader(filename, *args, **kwargs)

    load.explains_errors = True
    return load


def route_checkpoint_loaders() -> None:
    """Make every MMEngine checkpoint scheme raise explained errors.

    Re-registers each loader of ``mmengine.runner.CheckpointLoader`` (local
    files, URLs, ``open-mmlab://`` ...) wrapped in
    :func:`explain_load_errors`. Idempotent.
    """
    from mmengine.runner import CheckpointLoader

    # _schemes is the loader table; register_scheme(force=True) is the
    # public way to replace an entry
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if not getattr(loader, 'explains_errors', False):
            CheckpointLoader.register_scheme(
                prefix, _explaining(loader), force=True)
