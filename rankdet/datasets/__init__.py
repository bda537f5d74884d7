"""rankdet's mmdet (and, where installed, mmdet3d) datasets; importing this registers them.

Both check their files when they are built, before training or testing starts
(:mod:`rankdet.datasets.file_check`). Importing this applies rankdet's stack fixes first
(once, :func:`rankdet.compat.apply_all`; mmdet3d's GT sampling needs ``np.long``).
"""
import importlib.util

from rankdet.compat import apply_all

apply_all()

from .checked_coco_dataset import CheckedCocoDataset  # noqa: E402

__all__ = ['CheckedCocoDataset']

if importlib.util.find_spec('mmdet3d') is not None:
    from .checked_kitti_dataset import CheckedKittiDataset  # noqa: F401  registers it
    __all__.append('CheckedKittiDataset')
