"""Task modules of yolokit: box coders and label assigners."""
from . import assigners, coders
from .assigners import *  # noqa: F401,F403
from .coders import *  # noqa: F401,F403

__all__ = list(coders.__all__) + list(assigners.__all__)
