"""yolokit.testing.module_tree: the layout check behind the config tests."""
import pytest
import torch.nn as nn

from yolokit.testing.module_tree import (model_module_tree,
                                         module_tree_differences,
                                         read_module_tree)


def _write_tree(path, model):
    modules, params = model_module_tree(model)
    lines = ['# written from a live model']
    lines += [f'module {name} {cls}' for name, cls in modules.items()]
    lines += [f'param {key} {list(shape)}' for key, shape in params.items()]
    path.write_text('\n'.join(lines) + '\n')


def test_a_model_matches_its_own_tree(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    tree = tmp_path / 'tree.txt'
    _write_tree(tree, model)
    modules, params = read_module_tree(str(tree))
    assert modules['.'] == 'Sequential' and modules['1'] == 'BatchNorm2d'
    assert params['0.weight'] == (4, 3, 3, 3)
    assert params['1.num_batches_tracked'] == ()
    assert module_tree_differences(model, str(tree)) == []


def test_differences_name_missing_unexpected_and_reshaped_entries(tmp_path):
    tree = tmp_path / 'tree.txt'
    _write_tree(tree, nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    other = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Linear(2, 2))
    problems = '\n'.join(module_tree_differences(other, str(tree)))
    assert "0.weight: expected (4, 3, 3, 3), got (8, 3, 3, 3)" in problems
    assert 'modules differ' in problems  # '1' is ReLU, not BatchNorm2d
    assert "'1.running_mean'" in problems  # missing state_dict entry
    assert "'2.weight'" in problems  # unexpected state_dict entry


def test_bad_line_names_file_and_line(tmp_path):
    tree = tmp_path / 'tree.txt'
    tree.write_text('module . Sequential\nweights 0.weight [1]\n')
    with pytest.raises(ValueError, match=r'tree\.txt:2: expected'):
        read_module_tree(str(tree))
