"""The main job: train, evaluate and run YOLOv8-n on the bundled toy dataset.

Everything it needs is in the repository. The steps:

1. ``tools/misc/make_shapes_dataset.py`` renders the "shapes" dataset (COCO
   format) into ``--data-root``, unless an identical copy is already there;
2. ``tools/train.py`` trains the config from scratch (CPU or GPU);
3. ``tools/test.py`` evaluates the best checkpoint on the validation split
   (COCO AP/AR table and per-class AP);
4. ``demo/image_demo.py`` draws the detections of the held-out ``test``
   images into ``<work-dir>/demo``;

then prints where everything is and the bbox mAP. Each step runs as a
subprocess, exactly as a user would call the tool; its output is shown and
also saved under ``<work-dir>/main_job_logs/``.

Examples:
    python tools/misc/run_main_job.py            # what `make demo` runs
    python tools/misc/run_main_job.py --quick    # a short run of ~2 minutes
    python tools/misc/run_main_job.py --work-dir /tmp/job --data-root /tmp/d
"""
import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', 'yolov8',
                          'yolov8_n_fast_1xb16-30e_shapes.py')

# The full dataset is the generator's default; --quick renders a smaller one
# (into its own folder by default, so that it never replaces the full one).
FULL_SPLITS = (('train', 400), ('val', 100), ('test', 8))
QUICK_SPLITS = (('train', 128), ('val', 32), ('test', 2))
IMG_SIZE = (320, 320)  # (height, width) of the rendered images
# --quick: 16 iterations per epoch; Mosaic for the first QUICK_SWITCH_EPOCH
# epochs, then the config's Mosaic-free stage, validated once at the end
QUICK_EPOCHS = 12
QUICK_SWITCH_EPOCH = 6
QUICK_BATCH = 8
QUICK_WARMUP_ITERS = 16

SUMMARY_TITLE = 'Main job finished'


class StepError(RuntimeError):
    """A step of the job failed; the message says which and where to look."""


def _load_dataset_maker():
    path = osp.join(REPO_ROOT, 'tools', 'misc', 'make_shapes_dataset.py')
    spec = importlib.util.spec_from_file_location('make_shapes_dataset', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train, evaluate and run YOLOv8-n on the bundled toy '
        'dataset (the main job of `make demo`).')
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='config to train (default: %(default)s)')
    parser.add_argument(
        '--work-dir',
        help='where checkpoints, logs, metrics and drawings go (default: '
        'work_dirs/<config name>, or work_dirs/<config name>_quick with '
        '--quick, in the repository)')
    parser.add_argument(
        '--data-root',
        help='where the dataset is rendered (default: data/shapes, or '
        'data/shapes_quick with --quick, in the repository)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help=f'short run: {QUICK_EPOCHS} epochs on a dataset of '
        f'{dict(QUICK_SPLITS)["train"]} training images; it learns, but '
        'far less than the full job')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='score threshold of the demo drawings (default: %(default)s)')
    args = parser.parse_args(argv)

    args.config = osp.abspath(args.config)
    config_name = osp.splitext(osp.basename(args.config))[0]
    if args.work_dir is None:
        suffix = '_quick' if args.quick else ''
        args.work_dir = osp.join(REPO_ROOT, 'work_dirs', config_name + suffix)
    if args.data_root is None:
        name = 'shapes_quick' if args.quick else 'shapes'
        args.data_root = osp.join(REPO_ROOT, 'data', name)
    args.work_dir = osp.abspath(args.work_dir)
    args.data_root = osp.abspath(args.data_root)
    # --cfg-options splits values at commas (lists), so a path with one
    # would be cut in pieces.
    for key in ('work_dir', 'data_root'):
        if ',' in getattr(args, key):
            parser.error(f'--{key.replace("_", "-")} must not contain a '
                         f'comma: {getattr(args, key)}')
    if not osp.isfile(args.config):
        parser.error(f'config file not found: {args.config}')
    return args


def data_cfg_options(data_root: str) -> List[str]:
    """``--cfg-options`` pointing the config's datasets at ``data_root``."""
    root = data_root.rstrip('/') + '/'
    val_ann = root + 'annotations/instances_val.json'
    return [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={val_ann}',
        f'test_evaluator.ann_file={val_ann}',
    ]


def pipeline_switch_options(config_path: str) -> List[str]:
    """``--cfg-options`` moving the config's pipeline switch (if it has an
    ``mmdet.PipelineSwitchHook``) to ``QUICK_SWITCH_EPOCH``."""
    from mmengine.config import Config
    try:
        hooks = Config.fromfile(config_path).get('custom_hooks') or []
    except Exception:  # the train step reports a broken config clearly
        return []
    return [
        f'custom_hooks.{i}.switch_epoch={QUICK_SWITCH_EPOCH}'
        for i, hook in enumerate(hooks)
        if str(hook.get('type', '')).endswith('PipelineSwitchHook')
    ]


def quick_cfg_options(config_path: str) -> List[str]:
    """A short schedule for ``--quick``."""
    return pipeline_switch_options(config_path) + [
        f'train_cfg.max_epochs={QUICK_EPOCHS}',
        f'train_cfg.val_interval={QUICK_EPOCHS}',
        'train_cfg.dynamic_intervals=None',
        f'default_hooks.param_scheduler.max_epochs={QUICK_EPOCHS}',
        f'default_hooks.param_scheduler.warmup_mim_iter={QUICK_WARMUP_ITERS}',
        f'default_hooks.checkpoint.interval={QUICK_EPOCHS}',
        'default_hooks.logger.interval=1',
        f'train_dataloader.batch_size={QUICK_BATCH}',
        f'optim_wrapper.optimizer.batch_size_per_gpu={QUICK_BATCH}',
    ]


def run_step(name: str, cmd: List[str], log_file: str) -> float:
    """Run one step, echo its output and keep it in ``log_file``.

    Returns:
        float: The step's wall time in seconds.

    Raises:
        StepError: If the command exits with a non-zero code.
    """
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    print(f'\n===== [{name}] {" ".join(cmd)}', flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    # Idle OpenMP threads sleep instead of spinning: on a small CPU shared
    # with the data loader (or other jobs), spinning threads steal each
    # other's cores and made training iterations several times slower.
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    start = time.time()
    tail: List[str] = []
    with open(log_file, 'w', encoding='utf-8') as log:
        log.write(' '.join(cmd) + '\n')
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors='replace')
        except OSError as err:
            raise StepError(f'step "{name}" could not start: {err}') from err
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(line)
            tail = (tail + [line])[-25:]
        code = proc.wait()
    elapsed = time.time() - start
    if code != 0:
        raise StepError(
            f'step "{name}" failed (exit code {code}) after {elapsed:.0f} s.\n'
            f'Command: {" ".join(cmd)}\n'
            f'Full log: {log_file}\n'
            '--- last lines ---\n' + ''.join(tail).rstrip())
    print(f'===== [{name}] done in {elapsed:.0f} s', flush=True)
    return elapsed


def prepare_dataset(data_root: str, splits) -> Tuple[float, bool]:
    """Render the dataset unless it is already complete.

    Returns:
        tuple: ``(seconds, rendered)``.
    """
    maker = _load_dataset_maker()
    start = time.time()
    stamp = {
        split: osp.getmtime(osp.join(data_root, 'annotations',
                                     f'instances_{split}.json'))
        if osp.isfile(osp.join(data_root, 'annotations',
                               f'instances_{split}.json')) else None
        for split, _ in splits
    }
    try:
        ann_files = maker.make_shapes_dataset(
            data_root, splits=splits, seed=0, img_size=IMG_SIZE)
    except Exception as err:  # any failure: say it was this step
        raise StepError(f'step "dataset" failed while rendering the dataset '
                        f'into {data_root}: {err!r}') from err
    rendered = any(stamp[split] != osp.getmtime(path)
                   for split, path in ann_files.items())
    counts = []
    for split, path in ann_files.items():
        with open(path) as f:
            coco = json.load(f)
        counts.append(f'{split} {len(coco["images"])} images / '
                      f'{len(coco["annotations"])} objects')
    action = 'rendered' if rendered else 'already present, kept'
    print(f'===== [dataset] {data_root}: {action} ({"; ".join(counts)})',
          flush=True)
    return time.time() - start, rendered


def _new_run_dirs(work_dir: str, before: Sequence[str]) -> List[str]:
    """``<timestamp>`` folders a runner created in ``work_dir`` since."""
    if not osp.isdir(work_dir):
        return []
    return sorted(
        osp.join(work_dir, d) for d in os.listdir(work_dir)
        if d not in before and osp.isdir(osp.join(work_dir, d))
        and d[:8].isdigit())


def _list_dir(path: str) -> List[str]:
    return os.listdir(path) if osp.isdir(path) else []


def find_checkpoint(work_dir: str, since: float) -> str:
    """The best checkpoint this training run saved, else its last one."""
    best = [
        p for p in glob.glob(osp.join(work_dir, 'best_*.pth'))
        if osp.getmtime(p) >= since
    ]
    if best:
        return max(best, key=osp.getmtime)
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            last = f.read().strip()
        if osp.isfile(last) and osp.getmtime(last) >= since:
            return last
    raise StepError(
        f'step "train" finished but saved no checkpoint in {work_dir} '
        '(expected best_*.pth or the file named in last_checkpoint)')


def read_test_metrics(run_dir: str) -> Dict:
    """The metrics ``tools/test.py`` dumped to ``<run_dir>/<ts>.json``."""
    path = osp.join(run_dir, osp.basename(run_dir) + '.json')
    if not osp.isfile(path):
        raise StepError(f'step "test" wrote no metrics file {path}')
    with open(path) as f:
        return json.load(f)


def per_class_ap(metrics: Dict, classes: Sequence[str]) -> Dict[str, float]:
    """Per-class bbox AP from CocoMetric's ``classwise`` keys."""
    result = {}
    for name in classes:
        for key in (f'coco/{name}_precision', f'{name}_precision'):
            if key in metrics:
                result[name] = metrics[key]
                break
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    job_start = time.time()
    work_dir = args.work_dir
    config_name = osp.splitext(osp.basename(args.config))[0]
    logs_dir = osp.join(work_dir, 'main_job_logs')
    eval_dir = osp.join(work_dir, 'eval')
    demo_dir = osp.join(work_dir, 'demo')
    splits = QUICK_SPLITS if args.quick else FULL_SPLITS
    os.makedirs(work_dir, exist_ok=True)
    python = [sys.executable, '-u']
    times: Dict[str, float] = {}

    print(f'Main job{" (--quick)" if args.quick else ""}: {config_name}\n'
          f'  data root: {args.data_root}\n  work dir:  {work_dir}',
          flush=True)
    try:
        times['dataset'], _ = prepare_dataset(args.data_root, splits)

        data_opts = data_cfg_options(args.data_root)
        extra_opts = quick_cfg_options(args.config) if args.quick else []

        train_start = time.time()
        times['train'] = run_step('train', [
            *python,
            osp.join(REPO_ROOT, 'tools', 'train.py'), args.config,
            '--work-dir', work_dir, '--cfg-options', *data_opts, *extra_opts
        ], osp.join(logs_dir, 'train.log'))
        checkpoint = find_checkpoint(work_dir, since=train_start - 1)

        before = _list_dir(eval_dir)
        times['test'] = run_step('test', [
            *python,
            osp.join(REPO_ROOT, 'tools', 'test.py'), args.config, checkpoint,
            '--work-dir', eval_dir, '--cfg-options', *data_opts
        ], osp.join(logs_dir, 'test.log'))
        runs = _new_run_dirs(eval_dir, before)
        if not runs:
            raise StepError(f'step "test" created no run folder in '
                            f'{eval_dir}; see {logs_dir}/test.log')
        metrics = read_test_metrics(runs[-1])
        metrics_file = osp.join(work_dir, 'metrics.json')
        with open(metrics_file, 'w') as f:
            json.dump(metrics, f, indent=2)

        test_images = osp.join(args.data_root, 'test')
        times['demo'] = run_step('demo', [
            *python,
            osp.join(REPO_ROOT, 'demo', 'image_demo.py'), test_images,
            args.config, checkpoint, '--out-dir', demo_dir, '--score-thr',
            str(args.score_thr)
        ], osp.join(logs_dir, 'demo.log'))
        drawn = sorted(_list_dir(demo_dir))
        if not drawn:
            raise StepError(f'step "demo" wrote no image into {demo_dir}; '
                            f'see {logs_dir}/demo.log')
    except StepError as err:
        print(f'\nMain job FAILED: {err}', file=sys.stderr, flush=True)
        return 1

    total = time.time() - job_start
    classes = [c['name'] for c in _categories(args.data_root)]
    class_ap = per_class_ap(metrics, classes)
    summary = dict(
        config=args.config,
        data_root=args.data_root,
        work_dir=work_dir,
        checkpoint=checkpoint,
        metrics_file=metrics_file,
        test_log_dir=runs[-1],
        demo_dir=demo_dir,
        demo_images=drawn,
        bbox_mAP=metrics.get('coco/bbox_mAP'),
        bbox_mAP_50=metrics.get('coco/bbox_mAP_50'),
        per_class_AP=class_ap,
        seconds=dict(times, total=round(total, 1)),
        quick=args.quick)
    with open(osp.join(work_dir, 'main_job_summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)

    def fmt(value):
        return 'n/a' if value is None else f'{value:.3f}'

    lines = [
        '',
        '=' * 72,
        SUMMARY_TITLE + (' (--quick: a short run, far below the full '
                         'job)' if args.quick else ''),
        f'  work dir      : {work_dir}',
        f'  train log     : {osp.join(logs_dir, "train.log")}',
        f'  checkpoint    : {checkpoint}',
        f'  metrics json  : {metrics_file}  (copied from {runs[-1]})',
        f'  demo images   : {demo_dir}  ({len(drawn)} files)',
        f'  summary json  : {osp.join(work_dir, "main_job_summary.json")}',
        '  per-class AP  : ' + (', '.join(
            f'{k} {fmt(v)}' for k, v in class_ap.items()) or 'n/a'),
        f'  bbox mAP@50   : {fmt(summary["bbox_mAP_50"])}',
        f'  wall time     : {total / 60:.1f} min (' + ', '.join(
            f'{k} {v:.0f} s' for k, v in times.items()) + ')',
        f'  bbox mAP      : {fmt(summary["bbox_mAP"])}',
        '=' * 72,
    ]
    print('\n'.join(lines), flush=True)
    return 0


def _categories(data_root: str) -> List[Dict]:
    path = osp.join(data_root, 'annotations', 'instances_val.json')
    with open(path) as f:
        return json.load(f)['categories']


if __name__ == '__main__':
    sys.exit(main())
