"""Switch YOLOX to its last training stage: weak augmentation + L1 loss."""
import copy
from typing import List, Optional, Sequence

from mmengine.dataset import Compose
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from yolokit.registry import HOOKS, TRANSFORMS


def _datasets_with_pipeline(dataset, depth: int = 0) -> list:
    """The innermost datasets holding a ``pipeline``, looking through
    dataset wrappers (``.dataset``) and concatenations (``.datasets``)."""
    if depth > 8:
        return []
    if hasattr(dataset, 'pipeline'):
        return [dataset]
    found = []
    inner = getattr(dataset, 'dataset', None)
    if inner is not None:
        found += _datasets_with_pipeline(inner, depth + 1)
    for inner in getattr(dataset, 'datasets', None) or []:
        found += _datasets_with_pipeline(inner, depth + 1)
    return found


@HOOKS.register_module()
class YOLOXModeSwitchHook(Hook):
    """Moves YOLOX into its final training stage.

    For the last epochs the strong augmentation (Mosaic, MixUp, random
    affine) is replaced by ``new_train_pipeline``, and the head's auxiliary
    L1 box loss is switched on (``bbox_head.use_bbox_aux = True``).

    As in the original YOLOX (and MMYOLO / MMDetection), the switch happens
    before the epoch whose 1-based number is ``max_epochs -
    num_last_epochs``, i.e. when ``runner.epoch + 1 >= max_epochs -
    num_last_epochs``. With ``max_epochs=300`` and ``num_last_epochs=15``
    that is before epoch 285 (``runner.epoch == 284``). A run resumed after
    that point switches before its first epoch.

    The new pipeline replaces the ``pipeline`` of the training dataset in
    place (through dataset wrappers such as ``RepeatDataset`` or
    ``ConcatDataset``); the workers of a ``persistent_workers`` data loader
    are restarted so that they pick it up. If the dataset has no
    ``pipeline`` attribute, the data loader is rebuilt from
    ``runner.cfg.train_dataloader`` with the new pipeline instead. Model
    wrappers (DDP and MMEngine's wrappers) are unwrapped to reach the head.

    Args:
        num_last_epochs (int): Number of final epochs that train without the
            strong augmentation and with the L1 loss. Defaults to 15.
        new_train_pipeline (Sequence[dict], optional): Training pipeline of
            those epochs. If None, only the L1 loss is switched on.
            Defaults to None.
    """

    def __init__(self,
                 num_last_epochs: int = 15,
                 new_train_pipeline: Optional[Sequence[dict]] = None):
        if num_last_epochs < 0:
            raise ValueError('num_last_epochs must be >= 0, got '
                             f'{num_last_epochs}')
        self.num_last_epochs = num_last_epochs
        self.new_train_pipeline_cfg = new_train_pipeline
        self._has_switched = False

    def _should_switch(self, runner: Runner) -> bool:
        return (runner.epoch + 1 >= runner.max_epochs - self.num_last_epochs
                and not self._has_switched)

    def before_train_epoch(self, runner: Runner) -> None:
        """Switch the pipeline and the L1 loss once the last epochs begin."""
        if not self._should_switch(runner):
            return
        if self.new_train_pipeline_cfg is not None:
            runner.logger.info(
                f'YOLOXModeSwitchHook: new train pipeline (epoch '
                f'{runner.epoch + 1}): {self.new_train_pipeline_cfg}')
            self._switch_pipeline(runner)
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        runner.logger.info('YOLOXModeSwitchHook: adding the auxiliary L1 '
                           'bbox loss now')
        model.bbox_head.use_bbox_aux = True
        self._has_switched = True

    def _switch_pipeline(self, runner: Runner) -> None:
        loader = runner.train_loop.dataloader
        datasets = _datasets_with_pipeline(getattr(loader, 'dataset', None))
        if datasets:
            for dataset in datasets:
                dataset.pipeline = self._build_pipeline()
            self._restart_workers(loader)
            return
        if 'train_dataloader' not in runner.cfg:
            raise RuntimeError(
                'YOLOXModeSwitchHook cannot switch the pipeline: the training '
                'dataset has no "pipeline" and the runner config has no '
                '"train_dataloader" to rebuild it from')
        loader_cfg = copy.deepcopy(runner.cfg.train_dataloader)
        loader_cfg['dataset']['pipeline'] = copy.deepcopy(
            list(self.new_train_pipeline_cfg))
        self._restart_workers(loader)
        runner.train_loop.dataloader = Runner.build_dataloader(
            loader_cfg, seed=runner.seed)
        runner.logger.info('YOLOXModeSwitchHook: rebuilt the train '
                           'dataloader')

    def _build_pipeline(self) -> Compose:
        transforms: List = [
            TRANSFORMS.build(copy.deepcopy(t))
            for t in self.new_train_pipeline_cfg
        ]
        return Compose(transforms)

    @staticmethod
    def _restart_workers(loader) -> None:
        """Drop the worker processes a ``persistent_workers`` loader keeps,
        so that its next epoch starts workers holding the new pipeline.
        (Non-persistent workers are recreated every epoch anyway.)"""
        if not isinstance(loader, DataLoader) or \
                not getattr(loader, 'persistent_workers', False):
            return
        iterator = getattr(loader, '_iterator', None)
        if iterator is not None and hasattr(iterator, '_shutdown_workers'):
            iterator._shutdown_workers()
        loader._iterator = None
