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

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from yolokit.engine.cpu_distributed import (accelerator_available,
                                            setup_cpu_distributed)
from yolokit.registry import RUNNERS
from yolokit.utils.cfg_options import add_cfg_options_argument
from yolokit.utils.tool_config import check_checkpoint_path, load_tool_config
from yolokit.utils.tool_overrides import (RESUME_LATEST,
                                          FlagNotApplicableError,
                                          amp_overrides, apply_overrides,
                                          resume_overrides)

TOOL = 'tools/train.py'


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
        const=RESUME_LATEST,
        help='resume from the given checkpoint; without a path, resume from '
        'the latest checkpoint in the work dir (or start fresh if it has '
        'none)')
    add_cfg_options_argument(parser)
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


def flag_overrides(cfg: Config, args: argparse.Namespace) -> dict:
    """The config changes of ``--amp`` and ``--resume``.

    Raises:
        SystemExit: ``--amp`` does not fit (no GPU, another wrapper type).
    """
    overrides = resume_overrides(args.resume)
    if not args.amp:
        return overrides
    try:
        amp = amp_overrides(cfg.optim_wrapper, accelerator_available())
    except FlagNotApplicableError as e:
        sys.exit(f'{TOOL}: error: {e}')
    if not amp:
        print_log(
            '--amp: the config already trains with AmpOptimWrapper.',
            logger='current',
            level=logging.WARNING)
    return {**overrides, **amp}


def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options,
                           args.work_dir)
    apply_overrides(cfg, flag_overrides(cfg, args))
    # A checkpoint to start from must exist before anything is built (a
    # remote one is checked by its loader).
    if cfg.get('load_from'):
        check_checkpoint_path(
            cfg.load_from,
            '--resume checkpoint' if args.resume else 'load_from checkpoint')

    setup_cpu_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
