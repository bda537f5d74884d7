"""Geometric operators on LiDAR boxes (mmdet3d's convention: x, y, z bottom centre, dx, dy,
dz, yaw): differentiable rotated BEV / 3D IoU (exported here), and in their own modules
rankdet's one box-corner formula (:mod:`rankdet.ops.box_corners`, numpy or torch) and
its one points-in-boxes test (:mod:`rankdet.ops.points_in_boxes`, a point on a face is
outside).

The numba version for evaluation lives in :mod:`rankdet.ops.iou3d_numba`; it is not
imported here so that ``import rankdet.ops`` does not need numba.
"""
from .iou3d import bev_iou, iou3d

__all__ = ['bev_iou', 'iou3d']
