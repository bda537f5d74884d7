"""Which points lie inside which LiDAR boxes: rankdet's one points-in-boxes test, for
numpy arrays (the KITTI conversion: ``num_lidar_pts``, the GT database) and torch tensors
(SA-SSD's auxiliary targets, on any device) alike.

Boxes follow mmdet3d's ``LiDARInstance3DBoxes`` (``rankdet.ops.box_corners``): ``(x, y, z,
dx, dy, dz, yaw)``, ``z`` the bottom face. With ``(u, v) = R(-yaw) (p_xy - (x, y))`` a point
``p`` is inside when::

    |u| < dx / 2,   |v| < dy / 2,   z < p_z < z + dz

The boundary rule: **a point on a face is outside** (strict inequalities), the rule of
mmdet3d's ``box_np_ops.points_in_rbbox``, which mmdet3d's own KITTI conversion counts
``num_lidar_pts`` and cuts the GT database with; rankdet's conversion is tested against it
(tests/test_kitti_converter.py). SA-SSD's auxiliary targets used an inclusive rule before
(mmcv's CUDA ``points_in_boxes_all``, which they stand in for, is strict in x, y and
inclusive in z); no SA-SSD target changed with the strict rule on the sample and
synthetic data, and a point exactly on a face of an augmented box is a measure-zero
event, so no caller needs a second rule.
"""
from __future__ import annotations

import numpy as np

__all__ = ['points_in_boxes']


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith('torch') and hasattr(value, 'detach')


def points_in_boxes(points, boxes):
    """``bool[N, M]``: point ``n`` lies strictly inside box ``m`` (module docstring).

    Args:
        points: ``float[N, 3]`` x, y, z (LiDAR frame); pass ``points[:, :3]`` of a scan.
        boxes: ``float[M, 7]`` LiDAR boxes ``(x, y, z, dx, dy, dz, yaw)``, ``z`` at the
            bottom face.

    Both numpy (computed in float64) or both torch tensors (computed in the points'
    dtype, on their device).

    Returns:
        ``bool[N, M]``, a numpy array or a tensor like ``points``.
    """
    if _is_tensor(points):
        import torch
        xp = torch
        if not _is_tensor(boxes):
            raise TypeError(f'points_in_boxes: points is a tensor, so boxes must be one too, '
                            f'got {type(boxes).__name__}')
        boxes = boxes.to(points.dtype)
    else:
        xp = np
        points = np.asarray(points, dtype=np.float64)
        boxes = np.asarray(boxes, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'points_in_boxes expects points of shape (N, 3) (x, y, z), got '
                         f'{tuple(points.shape)}')
    if boxes.ndim != 2 or boxes.shape[1] != 7:
        raise ValueError(f'points_in_boxes expects boxes of shape (T, 7) (x, y, z, dx, dy, '
                         f'dz, yaw), got {tuple(boxes.shape)}')
    cos, sin = xp.cos(boxes[:, 6]), xp.sin(boxes[:, 6])                 # [M]
    dx = points[:, None, 0] - boxes[None, :, 0]                         # [N, M]
    dy = points[:, None, 1] - boxes[None, :, 1]
    u = cos * dx + sin * dy                     # rotated by -yaw into each box's own axes
    v = -sin * dx + cos * dy
    dz = points[:, None, 2] - boxes[None, :, 2]
    return ((xp.abs(u) < boxes[:, 3] / 2) & (xp.abs(v) < boxes[:, 4] / 2)
            & (dz > 0) & (dz < boxes[:, 5]))
