"""Losses of yolokit."""
from .bbox_overlaps import bbox_overlaps
from .iou_loss import IoULoss

__all__ = ['IoULoss', 'bbox_overlaps']
