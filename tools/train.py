"""Train a detector from a config file.

Examples:
    python tools/train.py configs/yolov5/yolov5_s-v61_fast_1xb12-40e_cat.py
    python tools/train.py CONFIG --resume            # latest ckpt in work_dir
    python tools/train.py CONFIG --resume CKPT.pth   # a given checkpoint
    python tools/train.py CONFIG --amp --cfg-options randomness.seed=2023
    tools/dist_train.sh CONFIG 8                     # 8 processes
"""
import argparse
import logging
import os
import sys

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from yolokit.registry import RUNNERS
from yolokit.utils.tool_config import load_tool_config
from yolokit.engine.cpu_distributed import (accelerator_available,
                                            setup_cpu_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir',
        help='the dir to save logs and checkpoints; defaults to '
        'work_dirs/<config name>')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic mixed precision training (needs a GPU)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a path, resume from '
        'the latest checkpoint in the work dir (or start fresh if it has '
        'none)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs; nested '
        'keys are dotted (model.backbone.norm_eval=False), list items are '
        'indexed (train_dataloader.dataset.pipeline.0.type=X) and lists or '
        'tuples are quoted without spaces: key="[a,b]" or key="(a,b)"')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (older: --local_rank).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_amp(cfg: Config) -> None:
    """Switch ``cfg.optim_wrapper`` to ``AmpOptimWrapper`` (dynamic scale).

    Raises:
        SystemExit: Without a GPU (MMEngine's AMP wrapper is GPU-only) or
            when the config uses another optimizer wrapper type.
    """
    if not accelerator_available():
        sys.exit('tools/train.py: error: --amp needs a GPU (or NPU/MLU/MUSA '
                 "device): MMEngine's AmpOptimWrapper does not run on CPU, "
                 'and no accelerator is available. Train without --amp; CPU '
                 'training runs in float32.')
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
        return
    if wrapper_type != 'OptimWrapper':
        sys.exit('tools/train.py: error: --amp only works with '
                 "optim_wrapper.type='OptimWrapper', but the config uses "
                 f'{wrapper_type!r}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options,
                           args.work_dir)

    if args.amp:
        enable_amp(cfg)

    # An explicit checkpoint wins over the automatic search in work_dir.
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    setup_cpu_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
