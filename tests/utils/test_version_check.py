"""The dependency check raises one clear error for incompatible stacks.

The installed versions are simulated by monkeypatching
``importlib.metadata.version``. Known facts used: the stack this project
runs on (mmengine 0.10.7, mmcv 2.1.0, mmdet 3.3.0) works; MMDetection 3.x
itself refuses mmcv >= 2.2.0; mmcv 1.x belongs to OpenMMLab 1.0;
``mmcv-lite`` has no compiled ops, which MMDetection imports.
"""
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from yolokit.utils import (IncompatibleDependencyError,
                           check_dependency_versions)

WORKING = {'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmdet': '3.3.0'}


def _simulate(monkeypatch, versions):

    def fake_version(dist):
        if dist not in versions:
            raise metadata.PackageNotFoundError(dist)
        return versions[dist]

    monkeypatch.setattr(metadata, 'version', fake_version)


def test_working_stack_passes(monkeypatch):
    _simulate(monkeypatch, WORKING)
    check_dependency_versions()


def test_too_new_mmcv(monkeypatch):
    _simulate(monkeypatch, dict(WORKING, mmcv='2.2.0'))
    with pytest.raises(IncompatibleDependencyError) as info:
        check_dependency_versions()
    msg = str(info.value)
    assert 'mmcv: installed 2.2.0' in msg
    # The other packages are fine and not reported.
    assert 'mmdet:' not in msg and 'mmengine:' not in msg


def test_mmcv_lite_instead_of_mmcv(monkeypatch):
    versions = dict(WORKING)
    del versions['mmcv']
    versions['mmcv-lite'] = '2.1.0'
    _simulate(monkeypatch, versions)
    with pytest.raises(IncompatibleDependencyError) as info:
        check_dependency_versions()
    msg = str(info.value)
    assert 'mmcv-lite 2.1.0' in msg
    assert 'compiled ops' in msg


def test_missing_mmcv(monkeypatch):
    versions = dict(WORKING)
    del versions['mmcv']
    _simulate(monkeypatch, versions)
    with pytest.raises(IncompatibleDependencyError) as info:
        check_dependency_versions()
    assert 'mmcv: installed nothing' in str(info.value)


def test_all_problems_in_one_message(monkeypatch):
    _simulate(monkeypatch, {'mmengine': '0.10.7', 'mmcv': '1.7.1'})
    with pytest.raises(IncompatibleDependencyError) as info:
        check_dependency_versions()
    msg = str(info.value)
    assert 'mmcv: installed 1.7.1' in msg
    assert 'mmdet: installed nothing' in msg
    assert '  mmengine:' not in msg
    # It says how to get a working stack.
    assert 'make env' in msg or 'setup_env.sh' in msg


def test_import_yolokit_fails_with_the_message():
    """``import yolokit`` runs the check before MMDetection is imported."""
    assert issubclass(IncompatibleDependencyError, ImportError)
    code = textwrap.dedent('''
        from importlib import metadata
        real = metadata.version
        metadata.version = lambda d: '2.2.0' if d == 'mmcv' else real(d)
        import yolokit
    ''')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert 'IncompatibleDependencyError' in proc.stderr
    assert 'mmcv: installed 2.2.0' in proc.stderr
    assert 'mmdet' not in proc.stderr.split('IncompatibleDependencyError')[-1]
