"""rankdet's mmdet (and, where installed, mmdet3d) datasets; importing this registers them.

Both check their files when they are built, before training or testing starts
(:mod:`rankdet.datasets.file_check`).
"""
import importlib.util

from .checked_coco_dataset import CheckedCocoDataset

__all__ = ['CheckedCocoDataset']

if importlib.util.find_spec('mmdet3d') is not None:
    from .checked_kitti_dataset import CheckedKittiDataset  # noqa: F401  registers it
    __all__.append('CheckedKittiDataset')
