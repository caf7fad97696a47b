"""Tests of RemoveDataElement."""
import pytest

from yolokit.datasets.transforms.remove_data_element import \
    RemoveDataElement
from yolokit.registry import TRANSFORMS


def test_removes_keys_and_ignores_missing():
    results = dict(a=1, b=2, c=3)
    out = RemoveDataElement(keys=['a', 'x']).transform(results)
    assert out == dict(b=2, c=3)
    out = RemoveDataElement(keys='b').transform(out)
    assert out == dict(c=3)


def test_repr_and_validation():
    t = TRANSFORMS.build(dict(type='RemoveDataElement', keys='gt_masks'))
    assert repr(t) == "RemoveDataElement(keys=['gt_masks'])"
    with pytest.raises(TypeError, match='keys'):
        RemoveDataElement(keys=[1])
