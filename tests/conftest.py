"""Shared fixtures of the yolokit test suite.

Tests that need the workplace's shared assets (real photos, tiny COCO/VOC
samples, the spec's module-tree files) take them from ``../shared`` next to
the repository, or from ``$YOLOKIT_SHARED_DIR``; a user's clone has neither,
so those tests skip with the reason. The module trees themselves also ship
with the tests (``tests/data/module_trees.json.gz``, the ``module_trees``
fixture), so the layout checks run in every clone.
"""
import copy
import os
import os.path as osp
import sys

import pytest

# The reference `ultralytics` package probes the network when imported
# unless told it is offline; tests never need it to.
os.environ.setdefault('YOLO_OFFLINE', '1')

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODULE_TREE_FIXTURE = osp.join(REPO_ROOT, 'tests', 'data',
                               'module_trees.json.gz')
SHARED_DIR = os.environ.get('YOLOKIT_SHARED_DIR',
                            osp.join(osp.dirname(REPO_ROOT), 'shared'))


def _require(path: str, what: str) -> str:
    if not osp.exists(path):
        pytest.skip(f'{what} not available: {path} does not exist (set '
                    'YOLOKIT_SHARED_DIR to the shared assets folder)')
    return path


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture(scope='session')
def shared_data_dir() -> str:
    """``shared/data``: real photos, a video, tiny COCO/VOC samples."""
    return _require(osp.join(SHARED_DIR, 'data'), 'shared test data')


@pytest.fixture(scope='session')
def images_dir(shared_data_dir) -> str:
    return _require(osp.join(shared_data_dir, 'images'), 'shared photos')


@pytest.fixture(scope='session')
def module_trees_dir() -> str:
    """``shared/spec/module_trees``: MMYOLO 0.6.0 module/state_dict layouts."""
    return _require(
        osp.join(SHARED_DIR, 'spec', 'module_trees'), 'spec module trees')


@pytest.fixture(scope='session')
def module_trees():
    """The spec's module trees as shipped with the tests, by config name
    (``'yolov5/voc/yolov5_n-v61_fast_1xb64-50e_voc'``); see
    ``tools/misc/make_module_tree_fixture.py``."""
    from yolokit.testing.module_tree import ModuleTreeFixture
    return ModuleTreeFixture(MODULE_TREE_FIXTURE)


class MMYOLOReference:
    """MMYOLO 0.6.0's own model code, imported beside yolokit as an oracle.

    yolokit promises that an MMYOLO config and checkpoint give the same
    outputs; for families without another runnable reference the parity
    tests build the same config dict with both libraries and compare.
    """

    def __init__(self, package):
        self.package = package
        self._registry = sys.modules['mmyolo.registry']

    def _build(self, registry, cfg: dict):
        from mmengine.registry import DefaultScope
        with DefaultScope.overwrite_default_scope('mmyolo'):
            return registry.build(copy.deepcopy(cfg))

    def build_model(self, cfg: dict):
        """MMYOLO's model (or any MODELS type) from a config dict."""
        return self._build(self._registry.MODELS, cfg)

    def build_task_util(self, cfg: dict):
        """MMYOLO's assigner, coder, prior generator, ... from a dict."""
        return self._build(self._registry.TASK_UTILS, cfg)


def _mmyolo_source_dir():
    candidates = [
        os.environ.get('MMYOLO_REFERENCE_DIR'),
        osp.join(sys.prefix, 'reference', 'mmyolo-0.6.0'),
        osp.join(REPO_ROOT, '.venv', 'reference', 'mmyolo-0.6.0'),
    ]
    for path in candidates:
        if path and osp.isfile(osp.join(path, 'mmyolo', '__init__.py')):
            return path
    return None


@pytest.fixture(scope='session')
def mmyolo_reference() -> MMYOLOReference:
    """MMYOLO 0.6.0 from the unpacked sdist ``<venv>/reference/mmyolo-0.6.0``
    (``tools/misc/setup_env.sh`` fetches it; ``MMYOLO_REFERENCE_DIR``
    overrides), or a skip."""
    root = _mmyolo_source_dir()
    if root is None:
        pytest.skip('MMYOLO 0.6.0 reference source not found (run '
                    'tools/misc/setup_env.sh, which unpacks the mmyolo '
                    '0.6.0 sdist into <venv>/reference/mmyolo-0.6.0, or set '
                    'MMYOLO_REFERENCE_DIR)')
    import mmcv
    sys.path.insert(0, root)
    # MMYOLO 0.6.0 asserts mmcv < 2.1.0 at import; its model code runs on
    # 2.1.0. Present an accepted version only while it is imported.
    real_version = mmcv.__version__
    mmcv.__version__ = '2.0.1'
    try:
        import mmyolo
        import mmyolo.engine  # noqa: F401  (registers hooks, optimizers)
        import mmyolo.models  # noqa: F401  (registers the models)
    finally:
        mmcv.__version__ = real_version
        sys.path.remove(root)
    return MMYOLOReference(mmyolo)


@pytest.fixture(scope='session', autouse=True)
def _register_yolokit():
    from yolokit.utils import register_all_modules
    register_all_modules(init_default_scope=True)


@pytest.fixture(autouse=True)
def _drop_closed_log_files():
    """Forget log files that a finished in-process training run closed.

    MMEngine's ``LoggerHook.after_run`` closes the file handlers of the
    runner's logger but leaves them attached, and that logger stays the
    current ``MMLogger``; a later ``init_weights`` in the same process then
    writes its initialisation report to the closed file and fails. Tests
    that run ``tools/train.py``'s ``main`` in process would otherwise break
    whichever test the same worker runs next.
    """
    yield
    import logging

    from mmengine.logging import MMLogger
    for logger in MMLogger._instance_dict.values():
        for handler in list(logger.handlers):
            if isinstance(handler, logging.FileHandler) and \
                    handler.stream is None:
                logger.removeHandler(handler)
