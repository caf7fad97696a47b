"""Config loading of the tools: errors name the file, line and key."""
import pytest

from yolokit.utils.tool_config import (ConfigSyntaxError,
                                       check_checkpoint_path,
                                       find_config_syntax_error,
                                       load_tool_config, read_config)


def test_read_config_loads_a_good_config(tmp_path):
    (tmp_path / 'base.py').write_text('a = 1\nb = dict(c=2)\n')
    path = tmp_path / 'cfg.py'
    path.write_text("_base_ = './base.py'\nb = dict(d=3)\n")
    cfg = read_config(str(path))
    assert cfg.a == 1 and cfg.b == dict(c=2, d=3)


def test_syntax_error_names_file_line_and_text(tmp_path):
    path = tmp_path / 'bad.py'
    path.write_text('a = 1\nmodel = dict(type="X",, depth=2)\nc = 3\n')
    with pytest.raises(SyntaxError) as info:
        read_config(str(path))
    err = info.value
    assert isinstance(err, ConfigSyntaxError)
    assert str(err).startswith(f'{path}:2: SyntaxError: ')
    assert 'model = dict(type="X",, depth=2)' in str(err)
    assert '<unknown>' not in str(err)
    assert (err.filename, err.lineno) == (str(path), 2)


def test_syntax_error_in_a_base_file_names_the_base(tmp_path):
    (tmp_path / 'base').mkdir()
    base = tmp_path / 'base' / 'runtime.py'
    base.write_text('x = 1\ny = [1, 2\nz = 3\n')
    path = tmp_path / 'cfg.py'
    path.write_text("_base_ = ['./base/runtime.py']\nw = 0\n")
    with pytest.raises(ConfigSyntaxError, match=r'runtime\.py:2: Syntax'):
        read_config(str(path))
    # (MMEngine alone names a temporary copy of the base file.)
    assert find_config_syntax_error(str(path)).filename == str(base)


def test_base_cycles_and_package_bases_are_skipped(tmp_path):
    a, b = tmp_path / 'a.py', tmp_path / 'b.py'
    a.write_text("_base_ = ['./b.py', 'mmdet::some/config.py']\n")
    b.write_text("_base_ = './a.py'\n")
    assert find_config_syntax_error(str(a)) is None


def test_missing_config_lists_similar_names(tmp_path):
    (tmp_path / 'yolov5_s_coco.py').write_text('a = 1\n')
    with pytest.raises(
            FileNotFoundError,
            match=r'yolov5_s_cocoo\.py does not exist.*'
            r'Similar files: .*yolov5_s_coco\.py'):
        read_config(str(tmp_path / 'yolov5_s_cocoo.py'))
    with pytest.raises(FileNotFoundError, match='is a directory'):
        read_config(str(tmp_path))


def test_checkpoint_in_place_of_config(tmp_path):
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(OSError, match='the config comes first'):
        read_config(str(ckpt))
    txt = tmp_path / 'cfg.txt'
    txt.write_text('a = 1')
    with pytest.raises(OSError, match=r'expected a file ending in \.py'):
        read_config(str(txt))


def test_check_checkpoint_path(tmp_path):
    good = tmp_path / 'epoch_10.pth'
    good.write_bytes(b'')
    check_checkpoint_path(str(good))
    check_checkpoint_path('https://example.com/x.pth')  # left to MMEngine
    with pytest.raises(
            FileNotFoundError,
            match=r'load_from .*epoch_1\.pth does not exist.*'
            r'Similar files: .*epoch_10\.pth'):
        check_checkpoint_path(str(tmp_path / 'epoch_1.pth'), 'load_from')


def test_work_dir_that_is_a_file(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text('a = 1\n')
    not_a_dir = tmp_path / 'work'
    not_a_dir.write_text('')
    with pytest.raises(
            FileExistsError, match=r'work_dir .*work is an existing file'):
        load_tool_config(str(path), work_dir=str(not_a_dir))
    cfg = load_tool_config(str(path), work_dir=str(tmp_path / 'new'))
    assert cfg.work_dir == str(tmp_path / 'new')
