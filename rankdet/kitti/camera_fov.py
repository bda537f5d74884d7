"""Crop a KITTI scan to the field of view of the left colour camera (``velodyne_reduced``).

KITTI labels only objects visible in ``image_2``, so detectors train and test on the
points inside that camera's viewing frustum. mmdet3d 1.4 (``create_reduced_point_cloud``
-> ``box_np_ops.remove_outside_points``) keeps a point when it lies inside the frustum
spanned by the image rectangle between the depths 0.001 m and 100 m, the depth measured
along camera 2's optical axis. A point ``X`` of the LiDAR frame projects through
``P2 @ R0_rect @ Tr_velo_to_cam`` to ``(u*d, v*d, d)``; the third row of ``P2`` is
``[0, 0, 1, t]``, so ``d`` is exactly that depth, and "inside the frustum" is
``0 <= u <= width, 0 <= v <= height, near <= d <= far``, the test used here; the
image size is read from the header of the frame's ``image_2`` file (:func:`read_image_shape`).
Used by the conversion (``data_converters``) and by the frame pictures alike.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NEAR_CLIP = 0.001  # metres; mmdet3d's get_frustum defaults
FAR_CLIP = 100.0


def camera_fov_mask(points, lidar2img, image_shape, near: float = NEAR_CLIP,
                    far: float = FAR_CLIP) -> np.ndarray:
    """``bool[N]``: which of ``float[N, >=3]`` LiDAR points fall inside the camera frustum.

    Args:
        points: ``float[N, C]`` with x, y, z (LiDAR frame) in the first three columns.
        lidar2img: ``float[4, 4]`` (or 3x4) LiDAR -> pixel projection,
            ``P2 @ R0_rect @ Tr_velo_to_cam``.
        image_shape: ``(height, width)`` of the image in pixels.
        near, far: depth range along the optical axis, in metres.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'points must have shape [N, C>=3] (x, y, z first), got '
                         f'{points.shape}')
    lidar2img = np.asarray(lidar2img, dtype=np.float64)
    if lidar2img.shape not in ((3, 4), (4, 4)):
        raise ValueError(f'lidar2img must be 3x4 or 4x4, got shape {lidar2img.shape}')
    height, width = image_shape
    xyz1 = np.concatenate([points[:, :3].astype(np.float64),
                           np.ones((len(points), 1))], axis=1)  # [N, 4]
    uvd = xyz1 @ lidar2img[:3].T  # [N, 3]: (u*d, v*d, d)
    depth = uvd[:, 2]
    in_depth = (depth >= near) & (depth <= far)
    # Points behind the camera would divide by a negative depth; they are out anyway.
    safe = np.where(in_depth, depth, 1.0)
    u, v = uvd[:, 0] / safe, uvd[:, 1] / safe
    return in_depth & (u >= 0) & (u <= width) & (v >= 0) & (v <= height)


def reduce_to_camera_fov(points, lidar2img, image_shape, near: float = NEAR_CLIP,
                         far: float = FAR_CLIP) -> np.ndarray:
    """The rows of ``points`` inside the camera frustum (see :func:`camera_fov_mask`)."""
    return np.asarray(points)[camera_fov_mask(points, lidar2img, image_shape, near, far)]


def read_image_shape(path) -> tuple[int, int]:
    """``(height, width)`` of an image, read from its header."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: image not found')
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f'{path}: not a readable image ({err})') from None
    return height, width
