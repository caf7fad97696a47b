"""Compare a model's layout with a module-tree file.

A module-tree file (the spec's ``module_trees/<algo>/<config>.txt``) lists
one entry per line: ``module <name> <ClassName>`` for every submodule
(``.`` is the root) and ``param <state_dict key> <shape>`` for every
state_dict entry; ``#`` starts a comment line. A model matching the file
loads the checkpoints made for that layout with ``strict=True``.
"""
import ast
from typing import Dict, List, Tuple

import torch.nn as nn

ModuleTree = Tuple[Dict[str, str], Dict[str, Tuple[int, ...]]]


def read_module_tree(path: str) -> ModuleTree:
    """Read a module-tree file.

    Args:
        path (str): The file.

    Returns:
        tuple[dict, dict]: Submodule name -> class name, and state_dict
        key -> shape.

    Raises:
        ValueError: A line is neither a ``module`` nor a ``param`` entry.
    """
    modules: Dict[str, str] = {}
    params: Dict[str, Tuple[int, ...]] = {}
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line or line.startswith('#'):
                continue
            kind, _, rest = line.partition(' ')
            if kind == 'module':
                name, cls_name = rest.rsplit(' ', 1)
                modules[name] = cls_name
            elif kind == 'param':
                key, shape = rest.split(' ', 1)
                params[key] = tuple(ast.literal_eval(shape))
            else:
                raise ValueError(
                    f'{path}:{number}: expected a "module <name> <class>" '
                    f'or "param <key> <shape>" line, got {line!r}')
    return modules, params


def model_module_tree(model: nn.Module) -> ModuleTree:
    """The layout of a live model, in the form of :func:`read_module_tree`."""
    modules = {(name or '.'): type(module).__name__
               for name, module in model.named_modules()}
    params = {key: tuple(value.shape)
              for key, value in model.state_dict().items()}
    return modules, params


def _differences(expected: dict, actual: dict, what: str) -> List[str]:
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    wrong = [f'{k}: expected {expected[k]}, got {actual[k]}'
             for k in expected if k in actual and expected[k] != actual[k]]
    return [
        f'{len(keys)} {what} {label}, e.g. {keys[:8]}'
        for keys, label in ((missing, 'missing'), (extra, 'unexpected'),
                            (wrong, 'differ')) if keys
    ]


def module_tree_differences(model: nn.Module, path: str) -> List[str]:
    """How ``model`` differs from the module-tree file ``path``.

    Args:
        model (nn.Module): The model.
        path (str): The module-tree file.

    Returns:
        list[str]: One line per kind of difference (missing, unexpected or
        different modules and state_dict entries); empty if they match.
    """
    expected_modules, expected_params = read_module_tree(path)
    modules, params = model_module_tree(model)
    return (_differences(expected_modules, modules, 'modules') +
            _differences(expected_params, params, 'state_dict entries'))
