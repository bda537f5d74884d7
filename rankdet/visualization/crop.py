"""Where a bird's-eye view should look: the window around a scan's points and boxes."""
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
