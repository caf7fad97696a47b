"""Export detections as labelme annotation files.

Predictions saved this way can be opened, corrected and re-saved in labelme
(https://github.com/wkentaro/labelme), which makes a trained model an
annotation assistant; ``tools/dataset_converters/labelme2coco.py`` turns the
corrected files into COCO.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.structures import InstanceData

# The labelme release whose file layout is written.
LABELME_VERSION = '5.1.1'


class LabelmeFormat:
    """Write the predictions of one image as a labelme JSON file.

    Each box becomes a ``rectangle`` shape with the points
    ``[[x1, y1], [x2, y2]]`` in original-image pixels; the image itself is
    referenced by absolute path (``imageData`` is null).

    Args:
        classes (tuple): Class names, indexed by the predicted labels.
    """

    def __init__(self, classes: Sequence[str]):
        super().__init__()
        self.classes = tuple(classes)

    def to_dict(self,
                pred_instances: InstanceData,
                metainfo: dict,
                selected_classes: Optional[Sequence[str]] = None) -> Dict:
        """Build the labelme dict of one image.

        Args:
            pred_instances (InstanceData): Predictions with ``bboxes``
                (N, 4) in xyxy order and ``labels`` (N, ).
            metainfo (dict): Meta info of the prediction; needs ``img_path``
                and ``ori_shape`` (``(height, width)``).
            selected_classes (Sequence[str], optional): Only boxes of these
                classes are written. None keeps every class.

        Returns:
            dict: The labelme file content.
        """
        for key in ('img_path', 'ori_shape'):
            if key not in metainfo:
                raise KeyError(f'metainfo needs "{key}" to write a labelme '
                               f'file; got keys {sorted(metainfo)}')
        height, width = metainfo['ori_shape'][:2]
        bboxes = pred_instances.bboxes
        labels = pred_instances.labels
        if hasattr(bboxes, 'detach'):
            bboxes = bboxes.detach().cpu().numpy()
            labels = labels.detach().cpu().numpy()

        shapes: List[Dict] = []
        for bbox, label in zip(bboxes.tolist(), labels.tolist()):
            label = int(label)
            if not 0 <= label < len(self.classes):
                raise IndexError(
                    f'Predicted label {label} has no class name: the model '
                    f'classes are {self.classes} ({len(self.classes)}).')
            name = self.classes[label]
            if selected_classes is not None and name not in selected_classes:
                continue
            shapes.append(
                dict(
                    label=name,
                    points=[bbox[:2], bbox[2:4]],
                    group_id=None,
                    shape_type='rectangle',
                    flags={}))
        return dict(
            version=LABELME_VERSION,
            flags={},
            imagePath=osp.abspath(metainfo['img_path']),
            imageData=None,
            imageHeight=int(height),
            imageWidth=int(width),
            shapes=shapes)

    def __call__(self,
                 pred_instances: InstanceData,
                 metainfo: dict,
                 output_path: str,
                 selected_classes: Optional[Sequence[str]] = None) -> None:
        """Write the labelme file of one image.

        Args:
            pred_instances (InstanceData): See :meth:`to_dict`.
            metainfo (dict): See :meth:`to_dict`.
            output_path (str): Path of the JSON file to write.
            selected_classes (Sequence[str], optional): See :meth:`to_dict`.
        """
        content = self.to_dict(pred_instances, metainfo, selected_classes)
        with open(output_path, 'w', encoding='utf-8') as f:
            # Non-ASCII class names stay readable in the file.
            json.dump(content, f, ensure_ascii=False, indent=2)
