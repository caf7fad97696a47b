"""Wrappers that record what a function or an object's methods return.

Used by analysis tools (e.g. box-level CAM) to capture intermediate outputs
without changing the model code.
"""
import copy
from collections import defaultdict
from typing import Any, Callable, Dict, Optional


class OutputSaveFunctionWrapper:
    """Wrap a module-level function and keep every value it returns.

    Inside ``with wrapper as log:`` the function's global name in ``spec``
    points at the wrapper, so callers that look it up by name are recorded.

    Args:
        func (Callable): The function to wrap.
        spec (dict, optional): Namespace in which the name is replaced.
            Defaults to the function's own globals.
    """

    def __init__(self, func: Callable, spec: Optional[Dict]) -> None:
        assert callable(func), f'{func!r} is not callable'
        self.func = func
        self.func_name = func.__name__
        self.log = []
        if spec is not None:
            self.spec = spec
        elif hasattr(func, '__globals__'):
            self.spec = func.__globals__
        else:
            raise ValueError(f'{func!r} has no globals; pass `spec`.')

    def __call__(self, *args, **kwargs) -> Any:
        result = self.func(*args, **kwargs)
        self.log.append(result)
        return result

    def __enter__(self) -> list:
        self.spec[self.func_name] = self
        return self.log

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.spec[self.func_name] = self.func


class OutputSaveObjectWrapper:
    """Proxy an object and record each attribute read and method result.

    Args:
        obj (Any): The object to proxy.
    """

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.log = defaultdict(list)

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.obj, attr)
        if not callable(value):
            self.log[attr].append(value)
            return value

        def recorded(*args, **kwargs):
            result = value(*args, **kwargs)
            self.log[attr].append(result)
            return result

        return recorded

    def clear(self) -> None:
        """Forget every recorded output."""
        self.log.clear()

    def __deepcopy__(self, memo: dict) -> 'OutputSaveObjectWrapper':
        return OutputSaveObjectWrapper(copy.deepcopy(self.obj, memo))
