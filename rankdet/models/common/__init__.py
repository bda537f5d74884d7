"""Pieces the 2D heads and SA-SSD's heads share (plain torch)."""
from .levels import flatten_levels, level_index

__all__ = ['flatten_levels', 'level_index']
