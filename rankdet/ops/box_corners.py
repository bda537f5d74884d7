"""Corners of 3D boxes: the one corner formula of rankdet, for numpy arrays and torch
tensors alike (a tensor keeps its gradient).

Boxes follow mmdet3d's ``LiDARInstance3DBoxes``: ``(x, y, z, dx, dy, dz, yaw)`` with
``(x, y, z)`` the centre of the BOTTOM face, ``dx, dy, dz`` the sizes along the box's
own x (heading), y and z axes, and ``yaw`` the counter-clockwise rotation about +z that
turns +x towards +y. Corner ``k`` is::

    (x, y, z) + (R(yaw) (sx_k dx/2, sy_k dy/2), sz_k dz),     R(yaw) = [[c, -s], [s, c]]

with the signs ``(sx, sy, sz)`` of :data:`CORNER_SIGNS`, mmdet3d's order
(``LiDARInstance3DBoxes.corners``). Seen from behind the box, looking along its heading,
with +y (left) on the left::

        back face (x = -dx/2)          front face (x = +dx/2)
          2 ---------- 1                 6 ---------- 5        top    (z + dz)
          |            |                 |            |
          3 ---------- 0                 7 ---------- 4        bottom (z)
        left         right             left         right
      (+dy/2)      (-dy/2)           (+dy/2)      (-dy/2)

Bird's-eye view: :func:`bev_corners` gives the bottom corners' ``(x, y)``, by the same
formula, counter-clockwise seen from above from the front-left one (corners
:data:`BEV_CCW` = 7, 3, 0, 4; the order :mod:`rankdet.ops.iou3d` clips in).

KITTI camera-frame boxes ``(x, y, z, l, h, w, ry)`` (bottom centre, y pointing down, ``ry``
about the camera's y axis) are the same boxes in a permuted frame: :func:`camera_box_corners`
maps them into it exactly (axis swaps and sign changes) and back, around this formula.
"""
from __future__ import annotations

import numpy as np

__all__ = ['CORNER_SIGNS', 'BEV_CCW', 'box_corners', 'bev_corners', 'camera_box_corners']

# (sx, sy, sz) of corners 0..7, mmdet3d's order (module docstring)
CORNER_SIGNS = ((-1, -1, 0), (-1, -1, 1), (-1, 1, 1), (-1, 1, 0),
                (1, -1, 0), (1, -1, 1), (1, 1, 1), (1, 1, 0))
# bottom corners counter-clockwise from above: front-left, back-left, back-right, front-right
BEV_CCW = (7, 3, 0, 4)
_BEV_SIGNS = tuple(CORNER_SIGNS[k] for k in BEV_CCW)


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith('torch') and hasattr(value, 'detach')


def box_corners(boxes):
    """Corners of LiDAR boxes.

    Args:
        boxes: ``float[..., 7]`` (x, y, z, dx, dy, dz, yaw), a numpy array (or anything
            ``np.asarray`` reads) or a torch tensor; extra trailing columns are not allowed.

    Returns:
        ``float[..., 8, 3]``: float64 numpy corners for numpy input; for a tensor, a tensor
        of its dtype and device, differentiable.
    """
    return _corners(boxes, CORNER_SIGNS, 'box_corners')


def bev_corners(boxes):
    """Bird's-eye-view corners of LiDAR boxes: ``float[..., 4, 2]`` (x, y) of the bottom
    corners :data:`BEV_CCW`, counter-clockwise from the front-left one; as
    :func:`box_corners` otherwise (``box_corners(boxes)[..., BEV_CCW, :2]``)."""
    return _corners(boxes, _BEV_SIGNS, 'bev_corners')[..., :2]


def _corners(boxes, corner_signs, fn: str):
    """The corners whose signs ``(sx, sy, sz)`` are listed: ``float[..., K, 3]``."""
    if _is_tensor(boxes):
        import torch
        xp, signs = torch, boxes.new_tensor(corner_signs)
    else:
        boxes = np.asarray(boxes, dtype=np.float64)
        xp, signs = np, np.asarray(corner_signs, dtype=np.float64)
    if boxes.ndim < 1 or boxes.shape[-1] != 7:
        raise ValueError(f'{fn} expects boxes of shape [..., 7] (x, y, z, dx, dy, dz, yaw; '
                         f'LiDAR frame, bottom centre), got shape {tuple(boxes.shape)}')
    half_x = signs[:, 0] * boxes[..., 3:4] / 2                  # [..., K]
    half_y = signs[:, 1] * boxes[..., 4:5] / 2
    up = signs[:, 2] * boxes[..., 5:6]
    cos, sin = xp.cos(boxes[..., 6:7]), xp.sin(boxes[..., 6:7])  # [..., 1]
    # centre first: a box at the origin with yaw 0 gets its half sizes exactly
    x = boxes[..., 0:1] + cos * half_x - sin * half_y
    y = boxes[..., 1:2] + sin * half_x + cos * half_y
    z = boxes[..., 2:3] + up
    return xp.stack([x, y, z], -1)


def camera_box_corners(boxes_cam) -> np.ndarray:
    """Corners of KITTI camera-frame boxes, through :func:`box_corners`.

    In the frame ``(X, Y, Z) = (x, z, -y)`` of camera coordinates (a rotation: right-handed,
    Z up), a camera box ``(x, y, z, l, h, w, ry)`` is the LiDAR-convention box
    ``(x, z, -y, l, w, h, -ry)``: its heading ``(cos ry, 0, -sin ry)`` becomes
    ``(cos ry, -sin ry, 0)``. The corners are mapped back with ``(x, y, z) = (X, -Z, Y)``.

    Args:
        boxes_cam: ``float[..., 7]`` x, y, z (bottom centre, y down), l, h, w, ry.

    Returns:
        ``float64[..., 8, 3]`` camera-frame corners, in :func:`box_corners`' order.
    """
    b = np.asarray(boxes_cam, dtype=np.float64)
    if b.ndim < 1 or b.shape[-1] != 7:
        raise ValueError(f'camera_box_corners expects boxes of shape [..., 7] (x, y, z, l, '
                         f'h, w, ry; camera frame, bottom centre), got shape {b.shape}')
    up_frame = np.stack([b[..., 0], b[..., 2], -b[..., 1], b[..., 3], b[..., 5], b[..., 4],
                         -b[..., 6]], -1)
    corners = box_corners(up_frame)
    return np.stack([corners[..., 0], -corners[..., 2], corners[..., 1]], -1)
