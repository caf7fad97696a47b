"""Convert a Meituan YOLOv6 release 0.2.0 ("v2.0") checkpoint to yolokit.

Models n, t, s (EfficientRep + RepPANNeck) and m, l (CSPBep backbone and
neck). The result loads with ``strict=True`` into the model of
``configs/yolov6/yolov6_<size>_syncbn_fast_8xb32-*.py`` (and MMYOLO
0.6.0's); 0.2.0 trains m/l with a DFL head, so those need
``--cfg-options model.bbox_head.head_module.reg_max=16`` (the converter
logs it). What ``--src`` may be, and the key renaming shared with
``yolov6_v3_to_yolokit.py``: :mod:`yolokit.utils.yolov6_official_checkpoint`.

Example (``PYTHONPATH`` lets the pickled official model load)::

    PYTHONPATH=YOLOv6-0.2.0 python \\
        tools/model_converters/yolov6_to_yolokit.py \\
        --src yolov6s.pt --dst yolokit_yolov6s.pth
"""
from yolokit.utils.yolov6_official_checkpoint import run_converter


def main() -> None:
    run_converter('0.2.0', 'yolov6s.pt', 'yolokit_yolov6s.pth')


if __name__ == '__main__':
    main()
