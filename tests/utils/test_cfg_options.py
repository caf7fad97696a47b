"""--cfg-options: items without "=" are argparse errors naming the item."""
import argparse

import pytest

from yolokit.utils.cfg_options import (CfgOptionsAction,
                                       add_cfg_options_argument)


def _parser():
    parser = argparse.ArgumentParser(prog='tool')
    add_cfg_options_argument(parser)
    return parser


def test_key_value_pairs_are_parsed_like_mmengine():
    args = _parser().parse_args(
        ['--cfg-options', 'train_cfg.max_epochs=3', 'a.b=[1,2]', 'c=x=y'])
    # Values parsed by MMEngine's DictAction; only the first "=" splits.
    assert args.cfg_options == {
        'train_cfg.max_epochs': 3,
        'a.b': [1, 2],
        'c': 'x=y'
    }
    assert isinstance(_parser()._option_string_actions['--cfg-options'],
                      CfgOptionsAction)


@pytest.mark.parametrize('item', ['train_cfg.max_epochs', '=3', ' =3'])
def test_item_without_key_or_equals_is_a_usage_error(item, capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(['--cfg-options', 'ok=1', item])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert 'argument --cfg-options' in err
    assert f'{item!r} is not a key=value pair' in err
    assert 'train_cfg.max_epochs=100' in err  # the expected form
    assert 'usage: tool' in err
