"""Registries of yolokit.

Every registry is a child of the MMDetection registry of the same kind (which
is itself a child of MMEngine's root registry), with scope ``yolokit``. So a
config with ``default_scope = 'yolokit'`` resolves yolokit names first, then
MMDetection's and MMEngine's, and ``mmdet.X`` names explicitly.

Each registry carries the import location of the sub-package whose modules
register into it, so configs resolve without manual imports:

============================  ==========================  ==================
registries                    what a config's ``type``    location
                              names there                 (``yolokit.*``)
============================  ==========================  ==================
RUNNERS, RUNNER_CONSTRUCTORS  ``runner_type`` and how     ``engine``
                              it is built
LOOPS, HOOKS, LOG_PROCESSORS  ``train_cfg``/``val_cfg``,  ``engine``
                              ``custom_hooks``,           (hooks:
                              ``log_processor``           ``engine.hooks``)
DATASETS, DATA_SAMPLERS       ``*_dataloader.dataset``    ``datasets``
                              and ``.sampler``
TRANSFORMS                    pipeline steps              ``datasets.
                                                          transforms``
MODELS, MODEL_WRAPPERS,       ``model`` and its parts,    ``models``
WEIGHT_INITIALIZERS,          ``model_wrapper_cfg``,
TASK_UTILS                    ``init_cfg``, assigners,
                              coders, prior generators
OPTIMIZERS, OPTIM_WRAPPERS,   ``optim_wrapper`` (with     ``engine.
OPTIM_WRAPPER_CONSTRUCTORS,   ``constructor``),           optimizers``
PARAM_SCHEDULERS              ``param_scheduler``
METRICS, EVALUATOR            ``val_evaluator``,          none yet (MMDet's
                              ``test_evaluator``          metrics)
VISUALIZERS, VISBACKENDS,     ``visualizer`` and its      ``utils``
INFERENCERS                   ``vis_backends``,
                              inferencers
============================  ==========================  ==================
"""
import difflib
from typing import List, Optional, Tuple, Type

from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import \
    RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import \
    WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import Registry

from yolokit.utils.errors import PlainMessageKeyError

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'DATASETS',
    'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR',
    'TASK_UTILS', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS',
    'INFERENCERS', 'UnknownTypeError', 'YolokitRegistry'
]


class UnknownTypeError(PlainMessageKeyError):
    """Raised when a config names a ``type`` no searched registry holds.

    A ``KeyError`` so code written against MMEngine's message keeps working.
    """


class YolokitRegistry(Registry):
    """A :class:`mmengine.Registry` whose failed look-ups explain themselves.

    MMEngine returns ``None`` from :meth:`get` and its build functions then
    raise a bare ``'X is not in the yolokit::model registry'``. Every build
    path (including the runner's, which goes through MMEngine's root
    registries and then switches to the default scope) ends in this
    registry's :meth:`get`, so that is where the richer error is raised: it
    names the registry, the scopes searched, and the closest registered
    names.
    """

    def get(self, key: str) -> Optional[Type]:
        obj = super().get(key)
        if obj is None:
            raise UnknownTypeError(self._unknown_type_message(key))
        return obj

    def __contains__(self, key: str) -> bool:
        try:
            return super().get(key) is not None
        except Exception:
            return False

    def _searched_registries(self, key: str) -> Tuple[List[Registry], str]:
        scope, real_key = self.split_scope_key(key)
        if scope is None or scope == self.scope:
            chain: List[Registry] = [self]
            if scope is None:
                parent = self.parent
                while parent is not None:
                    chain.append(parent)
                    parent = parent.parent
            return chain, real_key
        root = self._get_root_registry()
        target = root if scope == root.scope else root._search_child(scope)
        return ([target] if target is not None else []), real_key

    def _unknown_type_message(self, key: str) -> str:
        registries, real_key = self._searched_registries(key)
        scopes = ' -> '.join(r.scope for r in registries) or (
            f'none (scope "{self.split_scope_key(key)[0]}" is not '
            'registered; is the package installed and imported?)')
        candidates = sorted({
            name
            for reg in registries for name in reg.module_dict.keys()
        })
        close = difflib.get_close_matches(
            real_key, candidates, n=5, cutoff=0.6)
        lowered = [c for c in candidates if c.lower() == real_key.lower()]
        suggestions = list(dict.fromkeys(lowered + close))
        scope = self.split_scope_key(key)[0] or self.scope
        msg = (f'{key} is not in the {scope}::{self.name} registry. '
               f'Scopes searched: {scopes}.')
        if suggestions:
            msg += ' Closest registered names: ' + ', '.join(suggestions) + '.'
        else:
            msg += (' No similar name is registered; check the spelling, the '
                    'scope prefix (e.g. "mmdet.") and `custom_imports`.')
        return msg


def _child(name: str, parent: Registry, location: Optional[str],
           **kwargs) -> Registry:
    return YolokitRegistry(
        name,
        parent=parent,
        scope='yolokit',
        locations=[] if location is None else [location],
        **kwargs)


RUNNERS = _child('runner', MMDET_RUNNERS, 'yolokit.engine')
RUNNER_CONSTRUCTORS = _child('runner constructor', MMDET_RUNNER_CONSTRUCTORS,
                             'yolokit.engine')
LOOPS = _child('loop', MMDET_LOOPS, 'yolokit.engine')
HOOKS = _child('hook', MMDET_HOOKS, 'yolokit.engine.hooks')
LOG_PROCESSORS = _child('log_processor', MMDET_LOG_PROCESSORS,
                        'yolokit.engine')

DATASETS = _child('dataset', MMDET_DATASETS, 'yolokit.datasets')
DATA_SAMPLERS = _child('data sampler', MMDET_DATA_SAMPLERS,
                       'yolokit.datasets')
TRANSFORMS = _child('transform', MMDET_TRANSFORMS,
                    'yolokit.datasets.transforms')

MODELS = _child('model', MMDET_MODELS, 'yolokit.models')
MODEL_WRAPPERS = _child('model_wrapper', MMDET_MODEL_WRAPPERS,
                        'yolokit.models')
WEIGHT_INITIALIZERS = _child('weight initializer', MMDET_WEIGHT_INITIALIZERS,
                             'yolokit.models')
TASK_UTILS = _child('task util', MMDET_TASK_UTILS, 'yolokit.models')

OPTIMIZERS = _child('optimizer', MMDET_OPTIMIZERS, 'yolokit.engine.optimizers')
OPTIM_WRAPPERS = _child('optim_wrapper', MMDET_OPTIM_WRAPPERS,
                        'yolokit.engine.optimizers')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer constructor',
                                    MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'yolokit.engine.optimizers')
PARAM_SCHEDULERS = _child('parameter scheduler', MMDET_PARAM_SCHEDULERS,
                          'yolokit.engine.optimizers')

# yolokit adds no metric of its own yet: these resolve to MMDetection's
METRICS = _child('metric', MMDET_METRICS, None)
EVALUATOR = _child('evaluator', MMDET_EVALUATOR, None)

VISUALIZERS = _child('visualizer', MMDET_VISUALIZERS, 'yolokit.utils')
VISBACKENDS = _child('vis_backend', MMDET_VISBACKENDS, 'yolokit.utils')
# MMDetection defines no inferencer registry: the parent is MMEngine's.
INFERENCERS = _child('inferencer', MMENGINE_INFERENCERS, 'yolokit.utils')
