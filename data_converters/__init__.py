"""Dataset converters: raw dataset folders -> the info files mmdet3d 1.4 reads.

``python tools/create_data.py kitti --root-path P --out-dir O`` runs
:func:`kitti_converter.kitti_data_prep`.
"""
from .kitti_converter import KITTI_CLASSES, kitti_data_prep

__all__ = ['KITTI_CLASSES', 'kitti_data_prep']
