"""Pack the spec's module trees into the test suite's fixture.

The config tests compare every built model with the module tree and
state_dict layout MMYOLO 0.6.0 builds from the same config. Those trees
live in the workplace's ``spec/module_trees`` (one text file per config,
7 MB), which a clone of the repository does not have; this tool packs all
of them, including families yolokit does not implement yet, into
``tests/data/module_trees.json.gz``. Running it again on the same trees
gives the same bytes, so the fixture changes only when a tree does.

Example:
    python tools/misc/make_module_tree_fixture.py \\
        --src ../shared/spec/module_trees \\
        --dst tests/data/module_trees.json.gz
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Run from a source checkout: import the yolokit next to this file, not an
# installed one of another version.
sys.path.insert(0, REPO_ROOT)

from yolokit.testing.module_tree import (  # noqa: E402
    read_module_tree_dir, write_module_tree_fixture)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--src',
        default=osp.join(
            osp.dirname(REPO_ROOT), 'shared', 'spec', 'module_trees'),
        help='the spec module_trees folder (default: %(default)s)')
    parser.add_argument(
        '--dst',
        default=osp.join(REPO_ROOT, 'tests', 'data', 'module_trees.json.gz'),
        help='the fixture file to write (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not osp.isdir(args.src):
        sys.exit(f'--src {args.src!r} is not a folder; expected the spec '
                 'module_trees folder with <algo>/<config>.txt files')
    trees = read_module_tree_dir(args.src)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    size = write_module_tree_fixture(trees, args.dst)
    families = sorted({name.split('/', 1)[0] for name in trees})
    print(f'{args.dst}: {len(trees)} module trees of {", ".join(families)}; '
          f'{size / 1024:.0f} KiB')


if __name__ == '__main__':
    main()
