"""yolokit registries: scoped look-ups and the unknown-type error.

Spec 03 §8 (FAQ 1): an unknown type must raise MMEngine's ``KeyError: 'xxx
is not in the yolokit::model registry. ...'``; yolokit adds the scopes
searched and the closest registered names.
"""
import pytest
from mmdet.models.losses import CrossEntropyLoss
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope

from yolokit.registry import HOOKS, MODELS, TRANSFORMS, UnknownTypeError


def test_unknown_type_error_names_registry_scopes_and_close_names():
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='YOLOv5Hed'))
    assert isinstance(info.value, UnknownTypeError)
    msg = str(info.value)
    assert msg.startswith('YOLOv5Hed is not in the yolokit::model registry')
    assert 'yolokit -> mmdet -> mmengine' in msg
    assert 'YOLOv5Head' in msg.split('Closest registered names:')[1]


def test_unknown_type_from_the_runner_path():
    # The runner builds through MMEngine's root registry with the config's
    # default scope; the error must still be yolokit's.
    with DefaultScope.overwrite_default_scope('yolokit'):
        with pytest.raises(KeyError) as info:
            MMENGINE_MODELS.build(dict(type='YOLOv5Hed'))
    msg = str(info.value)
    assert 'yolokit::model' in msg and 'YOLOv5Head' in msg


def test_case_mismatch_is_suggested():
    with pytest.raises(KeyError) as info:
        TRANSFORMS.build(dict(type='letterresize'))
    assert 'LetterResize' in str(info.value)


def test_scoped_names_resolve_in_that_library():
    assert MODELS.get('mmdet.CrossEntropyLoss') is CrossEntropyLoss
    # Unscoped names fall back to the parent (MMDetection) registry.
    assert MODELS.get('CrossEntropyLoss') is CrossEntropyLoss
    loss = MODELS.build(dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True))
    assert isinstance(loss, CrossEntropyLoss) and loss.use_sigmoid


def test_unknown_scoped_name_searches_only_that_scope():
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='mmdet.CrossEntropyLos'))
    msg = str(info.value)
    assert 'mmdet::model' in msg
    assert 'Scopes searched: mmdet.' in msg
    assert 'CrossEntropyLoss' in msg


def test_unregistered_scope_is_named():
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='mmfoo.Bar'))
    assert 'scope "mmfoo" is not registered' in str(info.value)


def test_in_operator():
    assert 'YOLOv5Head' in MODELS
    assert 'mmdet.CrossEntropyLoss' in MODELS
    assert 'YOLOv5Hed' not in MODELS
    assert 'mmfoo.Bar' not in MODELS
    assert 'YOLOv5ParamSchedulerHook' in HOOKS
    assert 'SwitchToDeployHook' in HOOKS


# MMYOLO 0.6.0's registries (mmyolo -> yolokit): name, parent (MMDetection's
# registry of the same kind, except INFERENCERS), and the import location.
_LAYOUT = {
    'RUNNERS': ('runner', 'mmdet', 'yolokit.engine'),
    'RUNNER_CONSTRUCTORS': ('runner constructor', 'mmdet', 'yolokit.engine'),
    'LOOPS': ('loop', 'mmdet', 'yolokit.engine'),
    'HOOKS': ('hook', 'mmdet', 'yolokit.engine.hooks'),
    'DATASETS': ('dataset', 'mmdet', 'yolokit.datasets'),
    'DATA_SAMPLERS': ('data sampler', 'mmdet', 'yolokit.datasets'),
    'TRANSFORMS': ('transform', 'mmdet', 'yolokit.datasets.transforms'),
    'MODELS': ('model', 'mmdet', 'yolokit.models'),
    'MODEL_WRAPPERS': ('model_wrapper', 'mmdet', 'yolokit.models'),
    'WEIGHT_INITIALIZERS': ('weight initializer', 'mmdet', 'yolokit.models'),
    'OPTIMIZERS': ('optimizer', 'mmdet', 'yolokit.engine.optimizers'),
    'OPTIM_WRAPPERS': ('optim_wrapper', 'mmdet', 'yolokit.engine.optimizers'),
    'OPTIM_WRAPPER_CONSTRUCTORS':
    ('optimizer constructor', 'mmdet', 'yolokit.engine.optimizers'),
    'PARAM_SCHEDULERS':
    ('parameter scheduler', 'mmdet', 'yolokit.engine.optimizers'),
    # no yolokit module registers a metric yet, so nothing to import
    'METRICS': ('metric', 'mmdet', None),
    'EVALUATOR': ('evaluator', 'mmdet', None),
    'TASK_UTILS': ('task util', 'mmdet', 'yolokit.models'),
    'VISUALIZERS': ('visualizer', 'mmdet', 'yolokit.utils'),
    'VISBACKENDS': ('vis_backend', 'mmdet', 'yolokit.utils'),
    'LOG_PROCESSORS': ('log_processor', 'mmdet', 'yolokit.engine'),
    'INFERENCERS': ('inferencer', 'mmengine', 'yolokit.utils'),
}


@pytest.mark.parametrize('attr', sorted(_LAYOUT))
def test_registry_names_parents_and_locations(attr):
    import yolokit.registry as registry
    name, parent_scope, location = _LAYOUT[attr]
    reg = getattr(registry, attr)
    assert (reg.name, reg.scope) == (name, 'yolokit')
    assert (reg.parent.name, reg.parent.scope) == (name, parent_scope)
    assert reg._locations == ([] if location is None else [location])
    assert attr in registry.__all__
