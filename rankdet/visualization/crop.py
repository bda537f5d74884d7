"""Where a picture should look: the points inside a model's range, and the bird's-eye
window around a scan's points and boxes."""
from __future__ import annotations

import numpy as np


def points_window(points: np.ndarray, boxes=None, margin: float = 3.0,
                  low_high=(1.0, 99.0)):
    """The bird's-eye window ``(x_range, y_range)`` in metres that holds most of
    ``points`` (``float[N, >=2]``, LiDAR x forward, y left; the ``low_high`` percentiles,
    robust to a few far returns) and the centres of ``boxes`` (``float[B, >=2]``), with
    ``margin`` metres around: :func:`rankdet.visualization.render_bev`'s view cropped to
    where the points are. The sensor (origin) is kept in view."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2 or not len(points):
        raise ValueError(f'points must have shape [N>0, C>=2], got {points.shape}')
    xy = [np.percentile(points[:, :2], low_high, axis=0), np.zeros((1, 2))]
    if boxes is not None and len(boxes):
        xy.append(np.asarray(boxes, dtype=np.float64)[:, :2])
    xy = np.concatenate(xy)
    low, high = xy.min(0) - margin, xy.max(0) + margin
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def points_in_range(points: np.ndarray, point_cloud_range) -> np.ndarray:
    """The rows of ``points`` (``float[N, >=3]``, LiDAR x, y, z first) inside
    ``point_cloud_range`` ``(x0, y0, z0, x1, y1, z1)`` (metres, bounds included): the
    returns a voxel model with that range sees."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'points must have shape [N, C>=3], got {points.shape}')
    if len(point_cloud_range) != 6:
        raise ValueError(f'point_cloud_range must be (x0, y0, z0, x1, y1, z1), got '
                         f'{point_cloud_range}')
    low, high = np.asarray(point_cloud_range[:3]), np.asarray(point_cloud_range[3:])
    return points[np.all((points[:, :3] >= low) & (points[:, :3] <= high), axis=1)]
