"""Test (evaluate) a trained detector.

Examples:
    python tools/test.py CONFIG CHECKPOINT            # COCO metrics
    python tools/test.py CONFIG CHECKPOINT --tta      # test-time augmentation
    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/test.py CONFIG CHECKPOINT --json-prefix work_dirs/demo/res
    python tools/test.py CONFIG CHECKPOINT --show-dir show_results
    tools/dist_test.sh CONFIG CHECKPOINT 8
CHECKPOINT may be a local path or a URL.
"""
import argparse
import os
import sys

from mmengine.config import Config
from mmengine.runner import Runner

from yolokit.engine.cpu_distributed import setup_cpu_distributed
from yolokit.registry import RUNNERS
from yolokit.utils.cfg_options import add_cfg_options_argument
from yolokit.utils.checkpoint_fit import CheckpointFitHook
from yolokit.utils.errors import MissingConfigKeyError
from yolokit.utils.tool_config import check_checkpoint_path, load_tool_config
from yolokit.utils.tool_overrides import apply_overrides, tta_overrides

TOOL = 'tools/test.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and eval) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics; '
        'defaults to work_dirs/<config name>')
    parser.add_argument(
        '--out',
        type=str,
        help='dump the predictions to this pickle file (.pkl or .pickle)')
    parser.add_argument(
        '--json-prefix',
        type=str,
        help='write the predictions to <prefix>.bbox.json in COCO format '
        'without evaluating them (e.g. for a test server); the prefix may '
        'contain a directory')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test with test-time augmentation (the config must define '
        'tta_model and tta_pipeline)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='switch the model to deploy mode (re-parameterize) first')
    parser.add_argument(
        '--show-dir',
        help='save images with the drawn predictions to this directory, '
        'inside work_dir/<timestamp>/')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='seconds each image is shown with --show')
    add_cfg_options_argument(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out {args.out}: the dump file must be a pkl file '
                     '(ending in .pkl or .pickle)')
    return args


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """Make the visualization hook draw (and show or save) predictions."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        sys.exit(f'{TOOL}: error: --show/--show-dir need a '
                 'visualization hook in default_hooks, e.g. '
                 "default_hooks.visualization=dict(type="
                 "'mmdet.DetVisualizationHook'), but the config has none.")
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        hook['test_out_dir'] = args.show_dir


def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options,
                           args.work_dir)
    # Imported after yolokit's dependency check (in load_tool_config).
    from mmdet.evaluation import DumpDetResults

    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        enable_visualization(cfg, args)

    if args.deploy:
        if cfg.get('custom_hooks') is None:
            cfg.custom_hooks = []
        cfg.custom_hooks.append(dict(type='SwitchToDeployHook'))

    if args.json_prefix is not None:
        cfg.merge_from_dict({
            'test_evaluator.format_only': True,
            'test_evaluator.outfile_prefix': args.json_prefix
        })

    if args.tta:
        try:
            apply_overrides(cfg, tta_overrides(cfg, args.config))
        except MissingConfigKeyError as e:
            sys.exit(f'{TOOL}: error: {e}')

    # Fails before the model and data are built; a URL is left to MMEngine.
    check_checkpoint_path(args.checkpoint)
    setup_cpu_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    # MMEngine only warns about weights the checkpoint lacks; evaluating
    # random weights must fail instead.
    runner.register_hook(CheckpointFitHook(args.checkpoint, args.config))
    if args.out is not None:
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))

    runner.test()


if __name__ == '__main__':
    main()
