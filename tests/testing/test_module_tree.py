"""yolokit.testing.module_tree: the layout check behind the config tests,
and the module-tree fixture that carries the spec's trees into every clone.
"""
import gzip
import importlib.util
import json
import os.path as osp

import pytest
import torch.nn as nn

from yolokit.testing.module_tree import (
    FIXTURE_FORMAT, ModuleTreeFixture, encode_module_trees, model_module_tree,
    module_tree_differences, read_module_tree, read_module_tree_dir,
    tree_differences, write_module_tree_fixture)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'misc', 'make_module_tree_fixture.py')
FIXTURE = osp.join(REPO, 'tests', 'data', 'module_trees.json.gz')

# Two hand-written trees in the text format of the spec.
CONV_BN = '''# a comment line, skipped
module . Sequential
module 0 Conv2d
module 1 BatchNorm2d
param 0.weight (4, 3, 3, 3)
param 1.weight (4,)
param 1.bias (4,)
param 1.running_mean (4,)
param 1.running_var (4,)
param 1.num_batches_tracked ()
'''
LINEAR = '''module . Linear
param weight (2, 5)
param bias (2,)
'''


def _write_tree(path, model):
    modules, params = model_module_tree(model)
    lines = ['# written from a live model']
    lines += [f'module {name} {cls}' for name, cls in modules.items()]
    lines += [f'param {key} {list(shape)}' for key, shape in params.items()]
    path.write_text('\n'.join(lines) + '\n')


def _spec_like_dir(root):
    """``a/conv_bn``, ``a/sub/conv_bn_copy`` (same layout) and ``b/linear``."""
    (root / 'a' / 'sub').mkdir(parents=True)
    (root / 'b').mkdir()
    (root / 'a' / 'conv_bn.txt').write_text(CONV_BN)
    (root / 'a' / 'sub' / 'conv_bn_copy.txt').write_text(CONV_BN)
    (root / 'b' / 'linear.txt').write_text(LINEAR)
    (root / 'b' / 'notes.md').write_text('not a tree')
    return root


def _load_tool():
    spec = importlib.util.spec_from_file_location('make_fixture', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------ text files, models


def test_a_model_matches_its_own_tree(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    tree = tmp_path / 'tree.txt'
    _write_tree(tree, model)
    modules, params = read_module_tree(str(tree))
    assert modules['.'] == 'Sequential' and modules['1'] == 'BatchNorm2d'
    assert params['0.weight'] == (4, 3, 3, 3)
    assert params['1.num_batches_tracked'] == ()
    assert module_tree_differences(model, str(tree)) == []


def test_read_keeps_file_order(tmp_path):
    (tmp_path / 't.txt').write_text(CONV_BN)
    modules, params = read_module_tree(str(tmp_path / 't.txt'))
    assert list(modules) == ['.', '0', '1']
    assert list(params) == [
        '0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var',
        '1.num_batches_tracked'
    ]


def test_differences_name_missing_unexpected_and_reshaped_entries(tmp_path):
    tree = tmp_path / 'tree.txt'
    _write_tree(tree, nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    other = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Linear(2, 2))
    problems = '\n'.join(module_tree_differences(other, str(tree)))
    assert "0.weight: expected (4, 3, 3, 3), got (8, 3, 3, 3)" in problems
    assert 'modules differ' in problems  # '1' is ReLU, not BatchNorm2d
    assert "'1.running_mean'" in problems  # missing state_dict entry
    assert "'2.weight'" in problems  # unexpected state_dict entry


def test_differences_report_another_order():
    # the same two layers registered the other way round: same names,
    # classes and shapes, but an optimizer state would be misapplied
    class Swapped(nn.Module):

        def __init__(self):
            super().__init__()
            self.b = nn.Linear(2, 2)
            self.a = nn.Linear(2, 2)

    swapped = Swapped()
    modules, params = model_module_tree(swapped)
    expected = ({
        k: modules[k]
        for k in ('.', 'a', 'b')
    }, {
        k: params[k]
        for k in ('a.weight', 'a.bias', 'b.weight', 'b.bias')
    })
    problems = tree_differences(swapped, expected)
    assert problems == [
        "modules in another order: entry 1 is 'b', expected 'a'",
        "state_dict entries in another order: entry 0 is 'b.weight', "
        "expected 'a.weight'"
    ]


def test_bad_line_names_file_and_line(tmp_path):
    tree = tmp_path / 'tree.txt'
    tree.write_text('module . Sequential\nweights 0.weight [1]\n')
    with pytest.raises(ValueError, match=r'tree\.txt:2: expected'):
        read_module_tree(str(tree))


# ------------------------------------------------------------ the fixture


def test_read_dir_names_trees_by_relative_path(tmp_path):
    trees = read_module_tree_dir(str(_spec_like_dir(tmp_path)))
    assert list(trees) == ['a/conv_bn', 'a/sub/conv_bn_copy', 'b/linear']
    assert trees['b/linear'] == ({
        '.': 'Linear'
    }, {
        'weight': (2, 5),
        'bias': (2, )
    })


def test_read_dir_without_trees_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='below .*empty'):
        read_module_tree_dir(str(tmp_path / 'empty'))


def test_fixture_round_trip_keeps_entries_and_order(tmp_path):
    trees = read_module_tree_dir(str(_spec_like_dir(tmp_path)))
    path = str(tmp_path / 'trees.json.gz')
    write_module_tree_fixture(trees, path)
    fixture = ModuleTreeFixture(path)
    assert list(fixture) == list(trees) and len(fixture) == 3
    for name, (modules, params) in trees.items():
        got_modules, got_params = fixture[name]
        assert list(got_modules.items()) == list(modules.items())
        assert list(got_params.items()) == list(params.items())
    assert fixture.names('a') == ['conv_bn', 'sub/conv_bn_copy']
    assert 'b/linear' in fixture and 'b/conv_bn' not in fixture


def test_fixture_stores_a_shared_layout_once(tmp_path):
    trees = read_module_tree_dir(str(_spec_like_dir(tmp_path)))
    document = json.loads(gzip.decompress(encode_module_trees(trees)))
    assert document['format'] == FIXTURE_FORMAT
    # conv_bn and conv_bn_copy point at the same lists; linear at others
    assert document['trees'] == {
        'a/conv_bn': dict(modules=0, params=0),
        'a/sub/conv_bn_copy': dict(modules=0, params=0),
        'b/linear': dict(modules=1, params=1)
    }
    assert document['module_lists'][1] == [['.', 'Linear']]
    assert document['param_lists'][1] == [['weight', [2, 5]], ['bias', [2]]]


def test_fixture_bytes_depend_only_on_the_trees(tmp_path):
    trees = read_module_tree_dir(str(_spec_like_dir(tmp_path)))
    reordered = dict(reversed(list(trees.items())))
    first = encode_module_trees(trees)
    # gzip header: magic 1f 8b, deflate 08, no flags (no file name), mtime 0
    assert first[:8] == bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0])
    assert encode_module_trees(reordered) == first
    a, b = str(tmp_path / 'one.json.gz'), str(tmp_path / 'two.json.gz')
    assert write_module_tree_fixture(trees, a) == len(first)
    write_module_tree_fixture(trees, b)
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        assert fa.read() == fb.read() == first


def test_fixture_missing_tree_names_it_and_the_family(tmp_path):
    trees = read_module_tree_dir(str(_spec_like_dir(tmp_path)))
    path = str(tmp_path / 'trees.json.gz')
    write_module_tree_fixture(trees, path)
    with pytest.raises(KeyError, match=r"'a/nope'.*\['a/conv_bn', "):
        ModuleTreeFixture(path)['a/nope']


def test_fixture_of_another_format_is_refused(tmp_path):
    path = tmp_path / 'other.json.gz'
    path.write_bytes(gzip.compress(b'{"format": "something-else/9"}'))
    with pytest.raises(ValueError, match=r"other\.json\.gz.*something-else"):
        ModuleTreeFixture(str(path))


def test_tool_writes_the_fixture_deterministically(tmp_path, capsys):
    src = str(_spec_like_dir(tmp_path / 'src'))
    tool = _load_tool()
    first, second = tmp_path / 'out' / 'f1.gz', tmp_path / 'f2.gz'
    tool.main(['--src', src, '--dst', str(first)])  # creates out/
    tool.main(['--src', src, '--dst', str(second)])
    assert first.read_bytes() == second.read_bytes()
    assert '3 module trees of a, b' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='--src .*nope.* is not a folder'):
        tool.main(['--src', str(tmp_path / 'nope'), '--dst', str(first)])


# --------------------------------------- the shipped fixture and the spec


def test_shipped_fixture_covers_every_family_and_stays_small(module_trees):
    families = {name.split('/', 1)[0] for name in module_trees}
    # implemented families and those still to come (spec module_trees/)
    assert families == {
        'ppyoloe', 'rtmdet', 'yolov5', 'yolov6', 'yolov7', 'yolov8', 'yolox'
    }
    for folder in ('rtmdet/rotated/', 'yolov5/ins_seg/', 'yolov5/yolov5u/',
                   'yolov5/mask_refine/'):
        assert any(name.startswith(folder) for name in module_trees), folder
    # 116 trees of 7.4 MB of text pack into ~240 KB
    assert osp.getsize(FIXTURE) < 400 * 1024


def test_shipped_fixture_equals_the_spec(module_trees_dir, tmp_path):
    """The fixture is what the tool makes from the spec today: same trees,
    entries and order (compared as JSON, which does not depend on the zlib
    version that compressed it)."""
    fresh = tmp_path / 'fresh.json.gz'
    _load_tool().main(['--src', module_trees_dir, '--dst', str(fresh)])
    with gzip.open(FIXTURE) as shipped, gzip.open(fresh) as made:
        assert shipped.read() == made.read(), (
            f'{FIXTURE} is out of date with {module_trees_dir}; run '
            'python tools/misc/make_module_tree_fixture.py')
    spec = read_module_tree_dir(module_trees_dir)
    fixture = ModuleTreeFixture(FIXTURE)
    assert list(fixture) == list(spec)
    for name in spec:
        assert [list(part.items()) for part in fixture[name]
                ] == [list(part.items()) for part in spec[name]], name
