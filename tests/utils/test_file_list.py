"""get_file_list: folders (recursive), single files, URLs and bad input."""
import functools
import http.server
import os.path as osp
import threading

import pytest

from yolokit.utils.file_list import IMG_EXTENSIONS, get_file_list


def _touch(path):
    with open(path, 'wb') as f:
        f.write(b'x')
    return path


def test_img_extensions_match_spec():
    # spec 03 §3.2: the accepted suffixes
    assert IMG_EXTENSIONS == ('.jpg', '.jpeg', '.png', '.ppm', '.bmp',
                              '.pgm', '.tif', '.tiff', '.webp')


def test_folder_is_searched_recursively_for_images(tmp_path):
    (tmp_path / 'sub' / 'deeper').mkdir(parents=True)
    expected = {
        _touch(str(tmp_path / 'a.jpg')),
        _touch(str(tmp_path / 'b.PNG')),  # suffixes are case-insensitive
        _touch(str(tmp_path / 'sub' / 'c.webp')),
        _touch(str(tmp_path / 'sub' / 'deeper' / 'd.tiff')),
    }
    _touch(str(tmp_path / 'notes.txt'))
    _touch(str(tmp_path / 'sub' / 'labels.json'))

    files, source_type = get_file_list(str(tmp_path))

    assert set(files) == expected
    assert files == sorted(files)
    assert source_type == dict(is_dir=True, is_url=False, is_file=False)


def test_empty_folder_gives_empty_list(tmp_path):
    files, source_type = get_file_list(str(tmp_path))
    assert files == []
    assert source_type['is_dir']


def test_single_image_file(tmp_path):
    path = _touch(str(tmp_path / 'photo.JPEG'))
    files, source_type = get_file_list(path)
    assert files == [path]
    assert source_type == dict(is_dir=False, is_url=False, is_file=True)


def test_missing_image_raises_with_path(tmp_path):
    missing = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        get_file_list(missing)


def test_missing_source_without_suffix_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match='folder'):
        get_file_list(str(tmp_path / 'no_such_dir'))


def test_non_image_file_raises_listing_suffixes(tmp_path):
    path = _touch(str(tmp_path / 'notes.txt'))
    with pytest.raises(ValueError, match=r"'\.jpg'"):
        get_file_list(path)


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server serving ``tmp_path / 'www'``."""
    root = tmp_path / 'www'
    root.mkdir()
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_url_is_downloaded_under_its_file_name(http_root, tmp_path):
    root, base_url = http_root
    payload = bytes(range(256)) * 8
    (root / 'my image.png').write_bytes(payload)
    download_dir = tmp_path / 'downloads'

    files, source_type = get_file_list(
        f'{base_url}/my%20image.png?token=abc', download_dir=str(download_dir))

    assert source_type == dict(is_dir=False, is_url=True, is_file=False)
    # the name is the unquoted last path segment without the query string
    assert files == [osp.join(str(download_dir), 'my image.png')]
    with open(files[0], 'rb') as f:
        assert f.read() == payload


def test_url_defaults_to_working_directory(http_root, tmp_path, monkeypatch):
    root, base_url = http_root
    (root / 'x.jpg').write_bytes(b'jpeg')
    workdir = tmp_path / 'cwd'
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    files, _ = get_file_list(f'{base_url}/x.jpg')
    assert files == [osp.join(str(workdir), 'x.jpg')]
    assert (workdir / 'x.jpg').read_bytes() == b'jpeg'


def test_exported_from_yolokit_utils():
    import yolokit.utils
    assert yolokit.utils.get_file_list is get_file_list
    assert 'get_file_list' in yolokit.utils.__all__
