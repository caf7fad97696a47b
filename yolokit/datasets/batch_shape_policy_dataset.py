"""Base of the YOLOv5* datasets: batch shapes, dataset-aware pipelines."""
import os.path as osp
from typing import Any, List, Mapping, Optional

from mmdet.datasets import BaseDetDataset

from ..registry import TASK_UTILS


class BatchShapePolicyDataset(BaseDetDataset):
    """A detection dataset with optional test-time batch shapes.

    Mixed in before an MMDetection dataset class, e.g.
    ``class YOLOv5CocoDataset(BatchShapePolicyDataset, CocoDataset)``. It adds
    two things:

    * ``batch_shapes_cfg``: a ``TASK_UTILS`` config (usually
      :class:`BatchShapePolicy`) applied to the loaded data list, before
      filtering, subsetting and serialization, so every item carries the
      ``batch_shape`` that ``LetterResize`` pads to.
    * In training (``test_mode=False``) every pipeline input gets
      ``results['dataset'] = self``. Mixed-image transforms (Mosaic, MixUp)
      pop it and use it to fetch more samples, so no wrapper dataset is
      needed.

    It rejects ``metainfo`` keys written in upper case (``CLASSES``,
    ``PALETTE``): since MMYOLO v0.3.0 they are lower case, and an upper-case
    key would otherwise be silently ignored, leaving the dataset's default
    classes in place. A missing local ``ann_file`` is reported, with
    ``data_root``, before parsing starts.

    Args:
        batch_shapes_cfg (dict, optional): Config of the batch shape policy.
            Defaults to None (no batch shapes).
        *args, **kwargs: Passed to the MMDetection dataset.
    """

    def __init__(self,
                 *args,
                 batch_shapes_cfg: Optional[dict] = None,
                 **kwargs):
        self.batch_shapes_cfg = batch_shapes_cfg
        self._check_metainfo_keys(kwargs.get('metainfo'))
        super().__init__(*args, **kwargs)

    @classmethod
    def _check_metainfo_keys(cls, metainfo: Any) -> None:
        if not isinstance(metainfo, Mapping):
            return  # None, or resolved by MMEngine (e.g. ``from_file``)
        known = {'classes', 'palette', *getattr(cls, 'METAINFO', {})}
        bad = [
            k for k in metainfo
            if isinstance(k, str) and k != k.lower() and k.lower() in known
        ]
        if bad:
            fixes = ', '.join(f'"{k}" -> "{k.lower()}"' for k in bad)
            raise ValueError(
                f'{cls.__name__}: metainfo keys are lower case since MMYOLO '
                'v0.3.0 (metainfo=dict(classes=..., palette=...)); an '
                f'upper-case key would be ignored. Rename {fixes}.')

    def full_init(self) -> None:
        """Load the data list once, with batch shapes, then filter, subset
        and serialize it as MMEngine's ``BaseDataset`` does.

        The batch-shape policy sees every loaded item (before filtering and
        ``indices``), so the shapes do not depend on ``serialize_data``.
        """
        if self._fully_initialized:
            return
        self.data_list = self._load_shaped_data_list()
        self._select_and_serialize()

    def _load_shaped_data_list(self) -> List[dict]:
        """Every item of the annotation file (with its proposals), and its
        ``batch_shape`` when ``batch_shapes_cfg`` is set."""
        self._check_ann_file_exists()
        self.data_list = self.load_data_list()
        if self.proposal_file is not None:
            self.load_proposals()  # attaches to self.data_list in place
        if not self.batch_shapes_cfg:
            return self.data_list
        return TASK_UTILS.build(self.batch_shapes_cfg)(self.data_list)

    def _select_and_serialize(self) -> None:
        """MMEngine's tail of ``full_init``: ``filter_cfg``, ``indices``,
        ``serialize_data``; each step reads ``self.data_list``."""
        self.data_list = self.filter_data()
        if self._indices is not None:
            self.data_list = self._get_unserialized_subset(self._indices)
        if self.serialize_data:
            self.data_bytes, self.data_address = self._serialize_data()
        self._fully_initialized = True

    def _check_ann_file_exists(self) -> None:
        """Name ``ann_file`` and ``data_root`` when the file is missing.

        Only local paths are checked: with ``backend_args`` or a URL the
        storage backend reports its own errors.
        """
        path = self.ann_file
        if (not path or self.backend_args is not None or '://' in path
                or osp.isfile(path)):
            return
        root = self.data_root
        where = ''
        if root:
            state = 'exists' if osp.isdir(root) else 'does not exist either'
            where = f' (data_root {root!r} {state})'
        raise FileNotFoundError(
            f'{type(self).__name__}: ann_file {path} does not exist'
            f'{where}. ann_file is joined to data_root unless it is '
            'absolute; expected the path of an annotation file.')

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on item ``idx``.

        In training the dataset itself is passed along as
        ``results['dataset']`` so mixed-image transforms can draw other items.
        """
        if self.test_mode:
            return super().prepare_data(idx)
        data_info = self.get_data_info(idx)
        data_info['dataset'] = self
        return self.pipeline(data_info)
