"""Batch-augment tests steer the size schedule through MessageHub's ``iter``;
put it back afterwards so no later test sees their iteration numbers."""
import pytest
from mmengine import MessageHub


@pytest.fixture(autouse=True)
def _restore_iter_info():
    info = MessageHub.get_current_instance().runtime_info
    had_iter, old = 'iter' in info, info.get('iter')
    yield
    info = MessageHub.get_current_instance().runtime_info
    if had_iter:
        info['iter'] = old
    else:
        info.pop('iter', None)
