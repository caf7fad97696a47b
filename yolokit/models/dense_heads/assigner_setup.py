"""How the anchor-free heads get (and insist on) their assigner."""
import torch.nn as nn

from yolokit.registry import TASK_UTILS


def build_assigner(head: nn.Module) -> None:
    """Set ``head.assigner`` from ``head.train_cfg`` (if there is one)."""
    if not head.train_cfg:
        return
    if 'assigner' not in head.train_cfg:
        raise KeyError(f'{type(head).__name__}: train_cfg needs an '
                       '"assigner" config (e.g. dict(type='
                       '"BatchTaskAlignedAssigner", ...)), but has only '
                       f'{sorted(head.train_cfg)}')
    head.assigner = TASK_UTILS.build(head.train_cfg['assigner'])


def require_assigner(head: nn.Module) -> None:
    """Refuse to compute losses without an assigner, with the remedy."""
    if not hasattr(head, 'assigner'):
        raise RuntimeError(
            f'{type(head).__name__} was built without train_cfg.assigner, '
            'so it cannot compute losses: build the head with '
            'train_cfg=dict(assigner=...)')
