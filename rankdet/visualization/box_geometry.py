"""LiDAR boxes as drawable geometry: corners, edges and a heading mark (pure numpy).

Boxes follow mmdet3d's ``LiDARInstance3DBoxes``: ``(x, y, z, dx, dy, dz, yaw)`` with
``(x, y, z)`` the bottom centre, ``dx`` along the heading, ``yaw`` counter-clockwise
around +z from +x. Corners come from :func:`rankdet.ops.box_corners.box_corners`, in
mmdet3d's order (``LiDARInstance3DBoxes.corners``; its docstring draws them): 0-3 the
back face (x = -dx/2), 4-7 the front face (x = +dx/2), so that indices mean the same
thing here and there.

The heading mark is a cross on the front face (corners 4, 5, 6, 7): it shows which way
a box points from any viewpoint, where a single arrow can hide behind the box.
"""
from __future__ import annotations

import numpy as np

from rankdet.ops.box_corners import box_corners as ops_box_corners

# The 12 edges of a box as corner-index pairs: back face, front face, then the four
# edges joining them.
BOX_EDGES = np.array([
    [0, 1], [1, 2], [2, 3], [3, 0],
    [4, 5], [5, 6], [6, 7], [7, 4],
    [0, 4], [1, 5], [2, 6], [3, 7],
])

# The heading mark: both diagonals of the front face.
HEADING_EDGES = np.array([[4, 6], [5, 7]])


def check_boxes(boxes, name: str = 'boxes') -> np.ndarray:
    """``boxes`` as ``float64[N, 7]``; a clear error for any other shape."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 7)
    if boxes.ndim != 2 or boxes.shape[1] < 7:
        raise ValueError(f'{name} must have shape [N, 7] (x, y, z, dx, dy, dz, yaw; '
                         f'LiDAR frame, bottom centre), got shape {boxes.shape}')
    return boxes[:, :7]


def box_corners(boxes) -> np.ndarray:
    """``float[N, 7]`` LiDAR boxes -> ``float64[N, 8, 3]`` corners (order: module doc;
    :func:`rankdet.ops.box_corners.box_corners`, rankdet's one corner formula)."""
    return ops_box_corners(check_boxes(boxes))


def box_line_set(boxes, heading: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and edges of all boxes, ready for one line set.

    Returns ``(vertices float64[8N, 3], lines int64[E*N, 2])`` with ``E`` = 12 edges, or 14
    with the heading cross; line indices point into ``vertices``.
    """
    corners = box_corners(boxes)  # [N, 8, 3]
    edges = np.concatenate([BOX_EDGES, HEADING_EDGES]) if heading else BOX_EDGES
    offsets = 8 * np.arange(len(corners))  # [N]
    lines = (edges[None] + offsets[:, None, None]).reshape(-1, 2)
    return corners.reshape(-1, 3), lines.astype(np.int64)


def bev_footprints(boxes) -> np.ndarray:
    """Bird's-eye-view outlines: ``float64[N, 4, 2]`` (x, y) of the bottom corners,
    in the order back-right, back-left, front-left, front-right."""
    corners = box_corners(boxes)
    return corners[:, [0, 3, 7, 4], :2]


def heading_segments(boxes) -> np.ndarray:
    """``float64[N, 2, 2]``: from the BEV centre to the middle of the front edge."""
    boxes = check_boxes(boxes)
    cos, sin = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    centre = boxes[:, :2]
    front = centre + 0.5 * boxes[:, 3:4] * np.stack([cos, sin], axis=1)
    return np.stack([centre, front], axis=1)
