"""KITTI camera-frame boxes <-> LiDAR-frame boxes, in mmdet3d 1.4's convention.

Camera boxes (mmdet3d ``CameraInstance3DBoxes``, label files): ``(x, y, z, l, h, w, ry)``,
``(x, y, z)`` the bottom centre in the rectified camera frame (x right, y down,
z forward), sizes along camera x, y, z, ``ry`` the yaw around camera y.

LiDAR boxes (mmdet3d ``LiDARInstance3DBoxes``): ``(x, y, z, dx, dy, dz, yaw)``, ``(x, y, z)``
the bottom centre in the LiDAR frame (x forward, y left, z up), ``dx`` along the heading.

``CameraInstance3DBoxes.convert_to(Box3DMode.LIDAR, rt_mat)`` (``correct_yaw=False``, its
default) moves the bottom centre as a point with ``rt_mat`` = inverse of ``lidar2cam``,
takes ``(dx, dy, dz) = (l, w, h)`` and ``yaw = -ry - pi/2``, wrapped into [-pi, pi).
The yaw ignores the small tilt between the two frames, exactly as mmdet3d does::

          camera (top view)            LiDAR (top view)
             z                             x
             ^                             ^
             |    ry = 0: heading +x       |    yaw = 0: heading +x
             |                             |
             +-----> x            y <------+
"""
from __future__ import annotations

import numpy as np


def limit_period(angle, offset: float = 0.5, period: float = 2 * np.pi) -> np.ndarray:
    """Wrap ``angle`` into ``[-offset * period, (1 - offset) * period)``, as mmdet3d's
    ``limit_period`` (defaults: [-pi, pi))."""
    angle = np.asarray(angle, dtype=np.float64)
    return angle - np.floor(angle / period + offset) * period


def _check(boxes, matrix, name):
    boxes = np.asarray(boxes, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 7:
        raise ValueError(f'{name} must have shape [N, 7], got {boxes.shape}')
    if matrix.shape != (4, 4):
        raise ValueError(f'lidar2cam must be a 4x4 matrix (R0_rect @ Tr_velo_to_cam, '
                         f'both extended to 4x4), got shape {matrix.shape}')
    return boxes, matrix


def _transform_points(xyz: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return xyz @ matrix[:3, :3].T + matrix[:3, 3]


def camera_to_lidar_boxes(boxes_cam, lidar2cam) -> np.ndarray:
    """``float[N, 7]`` camera boxes (x, y, z, l, h, w, ry) -> ``float64[N, 7]`` LiDAR boxes
    (x, y, z, dx, dy, dz, yaw). ``lidar2cam``: ``float[4, 4]``, ``R0_rect @ Tr_velo_to_cam``."""
    boxes, lidar2cam = _check(boxes_cam, lidar2cam, 'boxes_cam')
    xyz = _transform_points(boxes[:, :3], np.linalg.inv(lidar2cam))
    l, h, w, ry = boxes[:, 3], boxes[:, 4], boxes[:, 5], boxes[:, 6]
    return np.column_stack([xyz, l, w, h, limit_period(-ry - np.pi / 2)])


def lidar_to_camera_boxes(boxes_lidar, lidar2cam) -> np.ndarray:
    """Inverse of :func:`camera_to_lidar_boxes`: ``float[N, 7]`` LiDAR boxes ->
    ``float64[N, 7]`` camera boxes (x, y, z, l, h, w, ry)."""
    boxes, lidar2cam = _check(boxes_lidar, lidar2cam, 'boxes_lidar')
    xyz = _transform_points(boxes[:, :3], lidar2cam)
    dx, dy, dz, yaw = boxes[:, 3], boxes[:, 4], boxes[:, 5], boxes[:, 6]
    return np.column_stack([xyz, dx, dz, dy, limit_period(-yaw - np.pi / 2)])
