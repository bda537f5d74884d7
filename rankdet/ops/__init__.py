"""Geometric operators: differentiable rotated BEV / 3D IoU of LiDAR boxes.

The numba version for evaluation lives in :mod:`rankdet.ops.iou3d_numba`; it is not
imported here so that ``import rankdet.ops`` does not need numba.
"""
from .iou3d import bev_iou, iou3d

__all__ = ['bev_iou', 'iou3d']
