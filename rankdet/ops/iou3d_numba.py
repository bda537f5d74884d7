"""Rotated BEV and 3D box overlaps on the CPU with numba, for evaluation (no gradients).

The same geometry as :mod:`rankdet.ops.iou3d` (see its docstring for the corner order):
a BEV box is ``(x, y, dx, dy, yaw)`` with ``yaw`` counter-clockwise, a 3D box is
``(x, y, z, dx, dy, dz, yaw)`` with its vertical extent ``z .. z + dz``. The
intersection is Sutherland-Hodgman clipping of one rectangle by the other in the
other's frame, then the shoelace area; everything runs in float64.

``criterion`` follows the KITTI devkit: -1 IoU (intersection over union), 0 intersection
over the area (volume) of ``boxes``, 1 over that of ``query_boxes``, 2 the intersection
itself.

numba is imported when this module is, so import it only where it is needed.
"""
import numpy as np

try:
    import numba
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'rankdet.ops.iou3d_numba (the CPU box overlaps used by the KITTI evaluation) '
        'needs numba: pip install numba') from error

__all__ = ['bev_overlaps', 'box3d_overlaps', 'overlaps_by_frame']

_TOL = 1e-9          # metres; see rankdet.ops.iou3d: tolerance of the inside test
_BUFFER = 16         # vertices; a convex clip never needs more than 8


@numba.njit(cache=True)
def _clip_area(box, query, poly, scratch):
    """Area of ``box ∩ query`` in BEV; both are ``(x, y, dx, dy, yaw)`` (5 values) or
    ``(x, y, z, dx, dy, dz, yaw)`` (7). ``poly``, ``scratch``: float64[_BUFFER, 2]."""
    col_dx = 2 if box.shape[0] == 5 else 3  # column of dx; yaw is the last one
    yaw = box.shape[0] - 1
    cos_q, sin_q = np.cos(query[yaw]), np.sin(query[yaw])
    off_x, off_y = box[0] - query[0], box[1] - query[1]
    centre_u = cos_q * off_x + sin_q * off_y
    centre_v = -sin_q * off_x + cos_q * off_y
    rel = box[yaw] - query[yaw]
    cos_r, sin_r = np.cos(rel), np.sin(rel)
    half_x, half_y = box[col_dx] / 2.0, box[col_dx + 1] / 2.0
    for k in range(4):
        sx = 1.0 if k == 0 or k == 3 else -1.0
        sy = 1.0 if k < 2 else -1.0
        poly[k, 0] = centre_u + cos_r * sx * half_x - sin_r * sy * half_y
        poly[k, 1] = centre_v + sin_r * sx * half_x + cos_r * sy * half_y
    count = 4
    src, dst = poly, scratch
    for edge in range(4):
        axis = edge // 2
        side = 1.0 if edge % 2 == 0 else -1.0
        limit = query[col_dx + axis] / 2.0 + _TOL
        out = 0
        for i in range(count):
            j = i + 1 if i + 1 < count else 0
            dist_i = limit - side * src[i, axis]
            dist_j = limit - side * src[j, axis]
            if dist_i >= 0.0 and out < _BUFFER:
                dst[out, 0] = src[i, 0]
                dst[out, 1] = src[i, 1]
                out += 1
            if (dist_i >= 0.0) != (dist_j >= 0.0) and out < _BUFFER:
                t = dist_i / (dist_i - dist_j)
                dst[out, 0] = src[i, 0] + t * (src[j, 0] - src[i, 0])
                dst[out, 1] = src[i, 1] + t * (src[j, 1] - src[i, 1])
                out += 1
        count = out
        src, dst = dst, src
        if count < 3:
            return 0.0
    area = 0.0
    for i in range(count):
        j = i + 1 if i + 1 < count else 0
        area += src[i, 0] * src[j, 1] - src[j, 0] * src[i, 1]
    return max(area / 2.0, 0.0)


@numba.njit(cache=True)
def _overlap(box, query, poly, scratch, criterion):
    """One pair; 5 columns: BEV, 7 columns: 3D (see the module docstring)."""
    if box.shape[0] == 5:
        inter = _clip_area(box, query, poly, scratch)
        size_box, size_query = box[2] * box[3], query[2] * query[3]
    else:
        height = min(box[2] + box[5], query[2] + query[5]) - max(box[2], query[2])
        if height <= 0.0:
            return 0.0
        inter = _clip_area(box, query, poly, scratch) * height
        size_box = box[3] * box[4] * box[5]
        size_query = query[3] * query[4] * query[5]
    if criterion == -1:
        den = size_box + size_query - inter
    elif criterion == 0:
        den = size_box
    elif criterion == 1:
        den = size_query
    else:
        return inter
    return inter / den if den > 0.0 else 0.0


@numba.njit(parallel=True, cache=True)
def _all_pairs(boxes, queries, criterion):
    out = np.zeros((boxes.shape[0], queries.shape[0]))
    for i in numba.prange(boxes.shape[0]):
        poly = np.empty((_BUFFER, 2))
        scratch = np.empty((_BUFFER, 2))
        for j in range(queries.shape[0]):
            out[i, j] = _overlap(boxes[i], queries[j], poly, scratch, criterion)
    return out


@numba.njit(parallel=True, cache=True)
def _frame_blocks(boxes, queries, box_start, query_start, block_start, criterion):
    out = np.zeros(block_start[-1])
    for f in numba.prange(block_start.shape[0] - 1):
        poly = np.empty((_BUFFER, 2))
        scratch = np.empty((_BUFFER, 2))
        num_q = query_start[f + 1] - query_start[f]
        for i in range(box_start[f + 1] - box_start[f]):
            for j in range(num_q):
                out[block_start[f] + i * num_q + j] = _overlap(
                    boxes[box_start[f] + i], queries[query_start[f] + j], poly, scratch,
                    criterion)
    return out


def _as_boxes(name, boxes, columns):
    array = np.ascontiguousarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != columns:
        raise ValueError(f'{name} must have shape (N, {columns}), got {array.shape}')
    return array


def _check_criterion(criterion):
    if criterion not in (-1, 0, 1, 2):
        raise ValueError(f'criterion must be -1 (IoU), 0 (over boxes), 1 (over query '
                         f'boxes) or 2 (intersection), got {criterion!r}')


def bev_overlaps(boxes, query_boxes, criterion=-1):
    """Rotated BEV overlaps.

    Args:
        boxes: ``float[N, 5]`` (x, y, dx, dy, yaw); query_boxes: ``float[K, 5]``.
        criterion: -1, 0, 1 or 2 (module docstring).
    Returns:
        ``float64[N, K]``.
    """
    _check_criterion(criterion)
    return _all_pairs(_as_boxes('boxes', boxes, 5),
                      _as_boxes('query_boxes', query_boxes, 5), criterion)


def box3d_overlaps(boxes, query_boxes, criterion=-1):
    """Rotated 3D overlaps of ``(x, y, z, dx, dy, dz, yaw)`` boxes, z at the bottom.

    Returns:
        ``float64[N, K]``.
    """
    _check_criterion(criterion)
    return _all_pairs(_as_boxes('boxes', boxes, 7),
                      _as_boxes('query_boxes', query_boxes, 7), criterion)


def overlaps_by_frame(boxes, query_boxes, box_counts, query_counts, criterion=-1):
    """Overlaps within each frame only, for many frames at once.

    Frame ``f`` owns the next ``box_counts[f]`` rows of ``boxes`` and the next
    ``query_counts[f]`` rows of ``query_boxes``; both hold BEV (5 columns) or 3D
    (7 columns) boxes. Pairs across frames are never computed.

    Returns:
        ``(float64[sum_f box_counts[f] * query_counts[f]], int64[F + 1])``: the frames'
        ``[box_counts[f], query_counts[f]]`` blocks, row-major, one after the other,
        and where each block starts.
    """
    _check_criterion(criterion)
    columns = np.shape(boxes)[-1] if np.ndim(boxes) == 2 else -1
    if columns not in (5, 7):
        raise ValueError(f'boxes must have shape (N, 5) (BEV) or (N, 7) (3D), got '
                         f'{np.shape(boxes)}')
    boxes = _as_boxes('boxes', boxes, columns)
    query_boxes = _as_boxes('query_boxes', query_boxes, columns)
    box_counts = np.asarray(box_counts, dtype=np.int64)
    query_counts = np.asarray(query_counts, dtype=np.int64)
    if box_counts.shape != query_counts.shape or box_counts.ndim != 1:
        raise ValueError(f'box_counts and query_counts must be 1-D and of one length '
                         f'(one entry per frame), got {box_counts.shape} and '
                         f'{query_counts.shape}')
    if box_counts.sum() != len(boxes) or query_counts.sum() != len(query_boxes):
        raise ValueError(f'the counts must add up to the number of boxes: '
                         f'{box_counts.sum()} vs {len(boxes)} boxes, '
                         f'{query_counts.sum()} vs {len(query_boxes)} query boxes')
    box_start = np.concatenate([[0], np.cumsum(box_counts)])
    query_start = np.concatenate([[0], np.cumsum(query_counts)])
    block_start = np.concatenate([[0], np.cumsum(box_counts * query_counts)])
    return (_frame_blocks(boxes, query_boxes, box_start, query_start, block_start,
                          criterion), block_start)
