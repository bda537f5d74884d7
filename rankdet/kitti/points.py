"""KITTI point clouds (``velodyne/*.bin``): raw little-endian float32 records.

Each point is ``num_features`` float32 values, for KITTI 4: x, y, z (metres, LiDAR frame:
x forward, y left, z up) and intensity (reflectance, 0..1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic_write import atomic_write_bytes

_DTYPE = np.dtype('<f4')


def read_points(path, num_features: int = 4) -> np.ndarray:
    """Read a ``.bin`` scan as ``float32[N, num_features]``."""
    path = Path(path)
    record = _DTYPE.itemsize * num_features
    size = path.stat().st_size
    if size % record:
        raise ValueError(f'{path}: {size} bytes is not a whole number of points of '
                         f'{num_features} float32 values ({record} bytes each); is the '
                         f'file truncated or is num_features wrong?')
    return np.fromfile(path, dtype=_DTYPE).astype(np.float32).reshape(-1, num_features)


def write_points(path, points) -> None:
    """Write ``float[N, F]`` points as a ``.bin`` scan (float32, atomically)."""
    points = np.asarray(points)
    if points.ndim != 2 or not np.issubdtype(points.dtype, np.number):
        raise ValueError(f'points must be a numeric array of shape [N, F] (F=4 for KITTI: '
                         f'x, y, z, intensity), got {points.dtype} {points.shape}')
    atomic_write_bytes(path, np.ascontiguousarray(points, dtype=_DTYPE).tobytes())
