"""Convert a Meituan YOLOv6 release 0.3.0 ("v3.0") checkpoint to yolokit.

P5 models n, s, m, l, with any of the heads 0.3.0 trains: the plain one
(released m/l), the self-distillation head of the released n/s (its box
distance branch is kept, the DFL target branch dropped) and the
anchor-aided one of ``--fuse_ab`` training (anchor-free branches kept).
The result loads with ``strict=True`` into the model of
``configs/yolov6/yolov6_v3_<size>_syncbn_fast_8xb32-300e_coco.py`` (and
MMYOLO 0.6.0's). See :mod:`yolokit.utils.yolov6_official_checkpoint` for
the renaming, shared with ``yolov6_to_yolokit.py``.

    PYTHONPATH=YOLOv6-0.3.0 python tools/model_converters/\\
yolov6_v3_to_yolokit.py --src yolov6n.pt --dst yolokit_yolov6_v3_n.pth
"""
from yolokit.utils.yolov6_official_checkpoint import run_converter


def main() -> None:
    run_converter('0.3.0', 'yolov6s.pt', 'yolokit_yolov6_v3_s.pth')


if __name__ == '__main__':
    main()
