"""Detect objects in images and draw or export the predictions.

Examples:
    # one image, drawings saved to ./output
    python demo/image_demo.py demo/demo.jpg CONFIG CHECKPOINT
    # every image of a folder (recursively), on the CPU
    python demo/image_demo.py data/images CONFIG CHECKPOINT --device cpu
    # labelme files of the cats only, to be corrected in labelme
    python demo/image_demo.py data/cat/images CONFIG CHECKPOINT \
        --out-dir data/cat/labels --class-name cat --to-labelme
"""
import os
import os.path as osp
from argparse import ArgumentParser, Namespace
from typing import Sequence

import mmcv
import torch
from mmdet.apis import inference_detector, init_detector
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from yolokit.registry import VISUALIZERS
from yolokit.utils import register_all_modules, switch_to_deploy
from yolokit.utils.checkpoint_fit import check_checkpoint_file_fits
from yolokit.utils.file_list import get_file_list
from yolokit.utils.labelme_utils import LabelmeFormat
from yolokit.utils.tool_config import check_checkpoint_path, read_config
from yolokit.utils.tool_overrides import apply_overrides, tta_overrides


def parse_args() -> Namespace:
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'img', help='Image file, folder of images (searched recursively) or '
        'http(s) URL')
    parser.add_argument('config', help='Config file')
    parser.add_argument('checkpoint', help='Checkpoint file')
    parser.add_argument(
        '--out-dir',
        default='./output',
        help='Folder of the results; nothing is saved with --show')
    parser.add_argument(
        '--device',
        default='cuda:0' if torch.cuda.is_available() else 'cpu',
        help='Device used for inference (default: cuda:0, or cpu when CUDA '
        'is unavailable)')
    parser.add_argument(
        '--show', action='store_true', help='Show the results in a window')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='Switch the model to its deploy (re-parameterised) form')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='Test-time augmentation with the config\'s tta_model and '
        'tta_pipeline')
    parser.add_argument(
        '--score-thr', type=float, default=0.3, help='Bbox score threshold')
    parser.add_argument(
        '--class-name',
        nargs='+',
        type=str,
        help='Only output these classes (default: all)')
    parser.add_argument(
        '--to-labelme',
        action='store_true',
        help='Write labelme JSON files instead of drawings')
    return parser.parse_args()


def check_class_names(class_names: Sequence[str],
                      model_classes: Sequence[str]) -> None:
    """Reject a ``--class-name`` the model cannot predict."""
    for name in class_names:
        if name not in model_classes:
            listing = '\n'.join(f'  {i}: {c}'
                                for i, c in enumerate(model_classes))
            print_log(
                f'The model classes are:\n{listing}', logger='current')
            raise RuntimeError(
                'Expected args.class_name to be one of the list, but got '
                f'"{name}". Valid names: {list(model_classes)}')


def output_name(file: str, source_root: str, is_dir: bool) -> str:
    """File name of a result: a folder's sub-paths are flattened with _."""
    if is_dir:
        return osp.relpath(file, source_root).replace(os.sep, '_')
    return osp.basename(file)


def main():
    args = parse_args()
    if args.to_labelme and args.show:
        raise RuntimeError('`--to-labelme` or `--show` only can choose one '
                           'at the same time.')

    register_all_modules()
    cfg = read_config(args.config)
    if 'init_cfg' in cfg.model.get('backbone', {}):
        # The checkpoint replaces any pretrained backbone weights.
        cfg.model.backbone.init_cfg = None
    if args.tta:
        apply_overrides(cfg, tta_overrides(cfg, args.config))

    # Resolve the inputs and outputs first: a typo fails before the model is
    # built, and before anything is written.
    files, source_type = get_file_list(args.img)
    if not files:
        raise FileNotFoundError(f'No image found in "{args.img}".')
    check_checkpoint_path(args.checkpoint)
    if not args.show and osp.exists(args.out_dir) and not osp.isdir(
            args.out_dir):
        raise FileExistsError(f'--out-dir {args.out_dir} is an existing '
                              'file; expected a directory for the results.')

    model = init_detector(cfg, args.checkpoint, device=args.device)
    # init_detector only warns about weights the checkpoint lacks.
    check_checkpoint_file_fits(model, args.checkpoint, args.config)
    if args.deploy:
        # Re-parameterise and fold BatchNorm, as tools/test.py --deploy.
        switch_to_deploy(model)

    classes = model.dataset_meta['classes']
    if args.class_name is not None:
        check_class_names(args.class_name, classes)

    if not args.show:
        os.makedirs(args.out_dir, exist_ok=True)

    if args.to_labelme:
        to_labelme = LabelmeFormat(classes=classes)
    else:
        vis_cfg = model.cfg.visualizer.copy()
        # Drawings are written through ``out_file``; storage backends would
        # only warn that they have no save_dir.
        vis_cfg.vis_backends = None
        visualizer = VISUALIZERS.build(vis_cfg)
        visualizer.dataset_meta = model.dataset_meta

    progress_bar = ProgressBar(len(files))
    for file in files:
        result = inference_detector(model, file)
        pred_instances = result.pred_instances
        pred_instances = pred_instances[pred_instances.scores > args.score_thr]
        if args.class_name is not None:
            keep_ids = [classes.index(n) for n in args.class_name]
            keep = torch.isin(pred_instances.labels,
                              pred_instances.labels.new_tensor(keep_ids))
            pred_instances = pred_instances[keep]
        result.pred_instances = pred_instances

        filename = output_name(file, args.img, source_type['is_dir'])
        out_file = None if args.show else osp.join(args.out_dir, filename)

        if args.to_labelme:
            to_labelme(pred_instances, result.metainfo,
                       osp.splitext(out_file)[0] + '.json', args.class_name)
        else:
            img = mmcv.imconvert(mmcv.imread(file), 'bgr', 'rgb')
            visualizer.add_datasample(
                filename,
                img,
                data_sample=result,
                draw_gt=False,
                show=args.show,
                wait_time=0,
                out_file=out_file,
                pred_score_thr=args.score_thr)
        progress_bar.update()

    if args.to_labelme:
        print_log('\nLabelme format label files had all been saved in '
                  f'{args.out_dir}')
    elif not args.show:
        print_log(
            f'\nResults have been saved at {osp.abspath(args.out_dir)}')


if __name__ == '__main__':
    main()
