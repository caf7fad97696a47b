"""Print a config with every ``_base_`` expanded, and optionally save it.

Example:
    python tools/misc/print_config.py \
        configs/yolov5/yolov5_s-v61_syncbn_fast_1xb4-300e_balloon.py \
        --save-path work_dirs/balloon_whole.py
"""
import argparse
import os
import os.path as osp

from yolokit.utils.cfg_options import add_cfg_options_argument
from yolokit.utils.tool_config import read_config

SAVE_SUFFIXES = ('.py', '.json', '.yml', '.yaml')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Print the whole config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--save-path',
        default=None,
        help='also save the whole config to this file (.py, .json or .yml)')
    add_cfg_options_argument(parser)
    args = parser.parse_args()
    if args.save_path is not None:
        if not args.save_path.endswith(SAVE_SUFFIXES):
            parser.error(f'--save-path {args.save_path}: the file name must '
                         f'end in one of {", ".join(SAVE_SUFFIXES)}')
        if osp.isdir(args.save_path):
            parser.error(f'--save-path {args.save_path} is a directory; '
                         'expected the path of the file to write')
    return args


def main() -> None:
    args = parse_args()
    cfg = read_config(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    print(f'Config:\n{cfg.pretty_text}')

    if args.save_path is not None:
        save_dir = osp.dirname(args.save_path)
        if save_dir:
            os.makedirs(save_dir, exist_ok=True)
        cfg.dump(args.save_path)
        print(f'Config saved to {args.save_path}')


if __name__ == '__main__':
    main()
