"""Resolve the image source of the demos: a file, a folder or a URL."""
import os
import os.path as osp
import urllib.parse
from typing import Dict, List, Optional, Tuple

from mmengine.logging import print_log
from mmengine.utils import scandir

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
_URL_PREFIXES = ('http:/', 'https:/')


def _download(url: str, download_dir: Optional[str]) -> str:
    """Fetch ``url`` into ``download_dir`` (default: the working directory)."""
    import torch.hub

    # The file name is the URL's last path segment, without query string.
    filename = osp.basename(urllib.parse.unquote(url).split('?')[0])
    if not filename:
        raise ValueError(f'Cannot derive a file name from the URL "{url}"; '
                         'expected a URL ending in an image file name.')
    save_dir = os.getcwd() if download_dir is None else download_dir
    os.makedirs(save_dir, exist_ok=True)
    save_path = osp.join(save_dir, filename)
    print_log(f'Downloading {url} to {save_path}', logger='current')
    torch.hub.download_url_to_file(url, save_path, progress=False)
    return save_path


def get_file_list(source_root: str,
                  download_dir: Optional[str] = None
                  ) -> Tuple[List[str], Dict[str, bool]]:
    """List the images an inference demo should process.

    Args:
        source_root (str): One of

            - a folder: searched recursively for files whose (lower-cased)
              suffix is in ``IMG_EXTENSIONS``; results are sorted;
            - a URL starting with ``http:/`` or ``https:/``: the image is
              downloaded and its local path returned;
            - a single image file.
        download_dir (str, optional): Where a URL is downloaded to. Defaults
            to the current working directory, like MMYOLO.

    Returns:
        tuple: ``(file_list, source_type)``. ``file_list`` holds the image
        paths (a folder's entries are ``osp.join(source_root, rel_path)``);
        ``source_type`` is ``dict(is_dir=..., is_url=..., is_file=...)``.

    Raises:
        FileNotFoundError: ``source_root`` is neither a folder, a URL nor an
            existing file.
        ValueError: ``source_root`` is a file without an image suffix.
    """
    is_dir = osp.isdir(source_root)
    is_url = source_root.startswith(_URL_PREFIXES)
    is_file = (not is_dir and not is_url
               and osp.splitext(source_root)[-1].lower() in IMG_EXTENSIONS)

    if is_dir:
        rel_paths = scandir(
            source_root, IMG_EXTENSIONS, recursive=True,
            case_sensitive=False)
        files = [osp.join(source_root, p) for p in sorted(rel_paths)]
        if not files:
            print_log(
                f'No image with a suffix in {IMG_EXTENSIONS} was found '
                f'under "{source_root}".',
                logger='current',
                level=30)  # logging.WARNING
    elif is_url:
        files = [_download(source_root, download_dir)]
    elif is_file:
        if not osp.isfile(source_root):
            raise FileNotFoundError(
                f'Image file "{source_root}" does not exist.')
        files = [source_root]
    elif osp.isfile(source_root):
        raise ValueError(
            f'"{source_root}" is not an image: expected a suffix in '
            f'{IMG_EXTENSIONS} (case-insensitive), a folder or a URL.')
    else:
        raise FileNotFoundError(
            f'Cannot find "{source_root}": expected an image file, a folder '
            'of images or an http(s) URL.')

    source_type = dict(is_dir=is_dir, is_url=is_url, is_file=is_file)
    return files, source_type
