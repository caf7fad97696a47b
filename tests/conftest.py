"""Shared fixtures of the yolokit test suite.

Tests that need the workplace's shared assets (real photos, tiny COCO/VOC
samples, the spec's module-tree files) take them from ``../shared`` next to
the repository, or from ``$YOLOKIT_SHARED_DIR``; a user's clone has neither,
so those tests skip with the reason. The module trees themselves also ship
with the tests (``tests/data/module_trees.json.gz``, the ``module_trees``
fixture), so the layout checks run in every clone.
"""
import os
import os.path as osp

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
