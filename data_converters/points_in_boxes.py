"""Which points lie inside which LiDAR boxes (for ``num_lidar_pts`` and the GT database)."""
from __future__ import annotations

import numpy as np


def points_in_boxes(points, boxes) -> np.ndarray:
    """``bool[N, M]``: point ``n`` lies strictly inside box ``m``.

    Args:
        points: ``float[N, C]``, x, y, z (LiDAR frame) in the first three columns.
        boxes: ``float[M, 7]`` LiDAR boxes ``(x, y, z, dx, dy, dz, yaw)``, ``z`` at the
            bottom face (mmdet3d's ``LiDARInstance3DBoxes``).

    A point on a face counts as outside, like mmdet3d's ``box_np_ops.points_in_rbbox``.
    """
    points = np.asarray(points)
    boxes = np.asarray(boxes, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'points must have shape [N, C>=3] (x, y, z first), got '
                         f'{points.shape}')
    if boxes.ndim != 2 or boxes.shape[1] != 7:
        raise ValueError(f'boxes must have shape [M, 7] (x, y, z, dx, dy, dz, yaw), got '
                         f'{boxes.shape}')
    offset = points[:, None, :3].astype(np.float64) - boxes[None, :, :3]  # [N, M, 3]
    cos, sin = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])  # [M]
    # Rotate by -yaw into each box's own axes (x along its heading).
    local_x = offset[..., 0] * cos + offset[..., 1] * sin  # [N, M]
    local_y = -offset[..., 0] * sin + offset[..., 1] * cos  # [N, M]
    return ((np.abs(local_x) < boxes[:, 3] / 2) & (np.abs(local_y) < boxes[:, 4] / 2)
            & (offset[..., 2] > 0) & (offset[..., 2] < boxes[:, 5]))
