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
(tests/test_kitti_converter.py). One switch, ``inclusive=True``: a point on a face, edge
or corner is inside (``<=``), the rule of SA-SSD's auxiliary targets since rankdet's
CPU stand-in for mmcv's CUDA ``points_in_boxes_all`` was written (that op is strict in x
and y, inclusive in z). It is not a measure-zero difference: the synthetic scans'
returns from a car are ray-box intersections, on its box's faces, and with the strict
rule SA-SSD's training on the demo's synthetic set changed from the fourth decimal of its
losses at 100 iterations and its demo AP by several points (found on 2026-12-08 when the
two callers first shared this function); the inclusive rule keeps the measured numbers.
"""
from __future__ import annotations

import numpy as np

__all__ = ['points_in_boxes']


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith('torch') and hasattr(value, 'detach')


def points_in_boxes(points, boxes, inclusive: bool = False):
    """``bool[N, M]``: point ``n`` lies inside box ``m``, its faces excluded (included with
    ``inclusive``; module docstring).

    Args:
        points: ``float[N, 3]`` x, y, z (LiDAR frame); pass ``points[:, :3]`` of a scan.
        boxes: ``float[M, 7]`` LiDAR boxes ``(x, y, z, dx, dy, dz, yaw)``, ``z`` at the
            bottom face.
        inclusive: a point on a face, edge or corner counts as inside (SA-SSD's
            auxiliary targets).

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
    if inclusive:
        return ((xp.abs(u) <= boxes[:, 3] / 2) & (xp.abs(v) <= boxes[:, 4] / 2)
                & (dz >= 0) & (dz <= boxes[:, 5]))
    return ((xp.abs(u) < boxes[:, 3] / 2) & (xp.abs(v) < boxes[:, 4] / 2)
            & (dz > 0) & (dz < boxes[:, 5]))
