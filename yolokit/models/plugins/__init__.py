"""Plugins that can be inserted after backbone stages."""
from .cbam import CBAM

__all__ = ['CBAM']
