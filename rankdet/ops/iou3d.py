"""Differentiable rotated IoU of LiDAR 3D boxes, bird's-eye view (BEV) and 3D.

Boxes follow mmdet3d's ``LiDARInstance3DBoxes``: ``(x, y, z, dx, dy, dz, yaw)`` with
``(x, y, z)`` the centre of the BOTTOM face, ``dx, dy, dz`` the sizes along the box's own
x (heading), y and z axes, and ``yaw`` the counter-clockwise rotation about +z that turns
+x towards +y. Corner order of the BEV rectangle (box frame, seen from above)::

                  y (dy)
                  ^
         1 +------|------+ 0       corner k = (x, y) + R(yaw) @ (sx_k * dx/2, sy_k * dy/2)
           |      |      |         (sx, sy) = (+, +), (-, +), (-, -), (+, -)
           |      o------|---> x   (heading, dx)           counter-clockwise
           |             |         (rankdet.ops.box_corners.bev_corners)
           |             |
         2 +-------------+ 3       height: z .. z + dz

For two boxes A and B::

    I_bev  = area(A_bev ∩ B_bev)       (A's rectangle clipped by B's four half-planes)
    IoU_bev = I_bev / (dx_A dy_A + dx_B dy_B - I_bev)
    h      = max(0, min(z_A + dz_A, z_B + dz_B) - max(z_A, z_B))
    IoU_3d = I_bev h / (dx_A dy_A dz_A + dx_B dy_B dz_B - I_bev h)

The intersection polygon comes from Sutherland-Hodgman clipping: A's corners are written
in B's frame, where B is the axis-aligned rectangle ``|u| <= dx_B/2, |v| <= dy_B/2``, and
clipped by its four half-planes in turn. Clipping a convex k-gon by a half-plane adds at
most one vertex, so every polygon fits a fixed buffer of 8 vertices (4 + 4 clips). All
pairs are clipped at once with padded tensors and masks; the area is the shoelace sum.
Gradients flow through the corner positions and the edge/line crossing points.

A vertex counts as inside when it lies within ``tol`` (1e-9 m in float64, 1e-5 m in
lower precision) of a half-plane. This keeps identical and touching boxes free of
spurious crossings whose position along an edge is numerically undefined (and whose
gradients would be huge); it changes an area by at most perimeter * tol. Sizes are in
metres: boxes of a centimetre or more are what the tolerances are made for.

Memory: the ``(N, M)`` form clips all ``N * M`` pairs at once, a few KB per pair with
autograd; the IoU-guided loss uses the ``aligned`` form (one pair per positive).
"""
import torch
from torch import Tensor

from .box_corners import bev_corners

__all__ = ['bev_iou', 'iou3d']

_MAX_VERTICES = 8


def _tolerance(dtype: torch.dtype) -> float:
    return 1e-9 if dtype == torch.float64 else 1e-5


def _check_boxes(name: str, boxes, fn: str) -> None:
    if not isinstance(boxes, Tensor):
        raise TypeError(f'{fn} expects {name} to be a torch.Tensor of shape (N, 7) '
                        f'(x, y, z, dx, dy, dz, yaw), got {type(boxes).__name__}')
    if boxes.dim() != 2 or boxes.shape[1] != 7:
        raise ValueError(f'{fn} expects {name} of shape (N, 7) (x, y, z, dx, dy, dz, yaw) '
                         f'LiDAR boxes, got shape {tuple(boxes.shape)}')
    if not boxes.is_floating_point():
        raise TypeError(f'{fn} expects floating point {name}, got {boxes.dtype}')


def _pairs(boxes1: Tensor, boxes2: Tensor, aligned: bool, fn: str):
    """The boxes of every evaluated pair, side by side: two ``Tensor[P, 7]``."""
    _check_boxes('boxes1', boxes1, fn)
    _check_boxes('boxes2', boxes2, fn)
    dtype = torch.promote_types(torch.promote_types(boxes1.dtype, boxes2.dtype),
                                torch.float32)
    a, b = boxes1.to(dtype), boxes2.to(dtype)
    if aligned:
        if a.shape[0] != b.shape[0]:
            raise ValueError(f'{fn}(aligned=True) needs as many boxes in boxes1 as in '
                             f'boxes2, got {a.shape[0]} and {b.shape[0]}')
        return a, b
    n, m = a.shape[0], b.shape[0]
    return (a[:, None].expand(n, m, 7).reshape(n * m, 7),
            b[None].expand(n, m, 7).reshape(n * m, 7))


def _corners_in_frame_of(a: Tensor, b: Tensor) -> Tensor:
    """BEV corners of boxes ``a`` in the frames of boxes ``b``: ``Tensor[P, 4, 2]``."""
    # Relative centre and yaw first: identical boxes then give exactly b's corners.
    cos_b, sin_b = torch.cos(b[:, 6]), torch.sin(b[:, 6])
    dx, dy = a[:, 0] - b[:, 0], a[:, 1] - b[:, 1]
    centre_u = cos_b * dx + sin_b * dy                          # [P] R(-yaw_b) (c_a - c_b)
    centre_v = -sin_b * dx + cos_b * dy
    zero = torch.zeros_like(centre_u)
    relative = torch.stack([centre_u, centre_v, zero, a[:, 3], a[:, 4], zero,
                            a[:, 6] - b[:, 6]], dim=1)          # a in b's frame, [P, 7]
    return bev_corners(relative)


def _clip(poly: Tensor, count: Tensor, side: Tensor, axis: int, half: Tensor,
          tol: float):
    """Keep the part of each polygon where ``side * poly[..., axis] <= half + tol``.

    Args:
        poly: ``Tensor[P, V, 2]`` vertices, the first ``count`` valid, in order.
        count: ``Tensor[P]`` number of valid vertices.
        side: +1.0 or -1.0; ``half``: ``Tensor[P]`` half size of the clip box.
    Returns:
        ``(Tensor[P, V, 2], Tensor[P])``: the clipped polygons and their counts.
    """
    num_pairs, cap = poly.shape[0], poly.shape[1]
    slot = torch.arange(cap, device=poly.device)
    valid = slot[None] < count[:, None]                                      # [P, V]
    nxt_index = torch.where(slot[None] + 1 < count[:, None], slot[None] + 1, 0)
    nxt = poly.gather(1, nxt_index[..., None].expand(-1, -1, 2))             # [P, V, 2]
    # signed distance inside the (tolerance-widened) half-plane; >= 0 is inside
    dist_cur = half[:, None] + tol - side * poly[..., axis]                  # [P, V]
    dist_nxt = half[:, None] + tol - side * nxt[..., axis]
    in_cur, in_nxt = dist_cur >= 0, dist_nxt >= 0
    keep_cur = valid & in_cur
    crossing = valid & (in_cur != in_nxt)
    # one of the two distances is >= 0 and the other < 0, so the gap is > 0 on crossings;
    # elsewhere a dummy 1 keeps the unused branch (and its gradient) finite
    gap = torch.where(crossing, dist_cur - dist_nxt, torch.ones_like(dist_cur))
    t = torch.where(crossing, dist_cur / gap, torch.zeros_like(dist_cur))
    cross_point = poly + t[..., None] * (nxt - poly)                         # [P, V, 2]
    # vertex i emits (itself if inside, then the crossing on edge i -> i+1 if any)
    candidates = torch.stack([poly, cross_point], dim=2).reshape(num_pairs, 2 * cap, 2)
    emitted = torch.stack([keep_cur, crossing], dim=2).reshape(num_pairs, 2 * cap)
    target = emitted.long().cumsum(1) - 1
    # not emitted (or, impossibly for convex input, beyond the buffer) -> a dump slot
    target = torch.where(emitted & (target < cap), target, cap)
    out = poly.new_zeros(num_pairs, cap + 1, 2).scatter(
        1, target[..., None].expand(-1, -1, 2), candidates)
    return out[:, :cap], emitted.sum(1).clamp(max=cap)


def _intersection_area(a: Tensor, b: Tensor) -> Tensor:
    """Area of the BEV intersection of ``a[p]`` and ``b[p]``: ``Tensor[P]``."""
    num_pairs = a.shape[0]
    tol = _tolerance(a.dtype)
    poly = torch.cat([_corners_in_frame_of(a, b),
                      a.new_zeros(num_pairs, _MAX_VERTICES - 4, 2)], dim=1)  # [P, 8, 2]
    count = torch.full((num_pairs,), 4, dtype=torch.long, device=a.device)
    half_x, half_y = b[:, 3] / 2, b[:, 4] / 2
    for side, axis, half in ((1.0, 0, half_x), (-1.0, 0, half_x),
                             (1.0, 1, half_y), (-1.0, 1, half_y)):
        poly, count = _clip(poly, count, side, axis, half, tol)
    # pad with the first vertex so that the cyclic shoelace sum needs no mask
    slot = torch.arange(_MAX_VERTICES, device=a.device)
    poly = torch.where((slot[None] < count[:, None])[..., None], poly, poly[:, :1])
    x, y = poly[..., 0], poly[..., 1]
    x_next, y_next = x.roll(-1, dims=1), y.roll(-1, dims=1)
    area = 0.5 * (x * y_next - x_next * y).sum(1)
    return torch.where(count >= 3, area, torch.zeros_like(area)).clamp(min=0)


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    # degenerate (zero-size) boxes give a zero union; their IoU is 0, not NaN
    return num / den.clamp(min=torch.finfo(den.dtype).tiny ** 0.5)


def bev_iou(boxes1: Tensor, boxes2: Tensor, aligned: bool = False) -> Tensor:
    """Rotated IoU of the bird's-eye-view rectangles of LiDAR boxes (differentiable).

    Args:
        boxes1: ``Tensor[N, 7]`` (x, y, z, dx, dy, dz, yaw), sizes > 0.
        boxes2: ``Tensor[M, 7]`` (``M == N`` when ``aligned``).
        aligned: pair ``boxes1[i]`` with ``boxes2[i]`` only.

    Returns:
        ``Tensor[N, M]``, or ``Tensor[N]`` when ``aligned``: IoU in [0, 1], in the boxes'
        dtype promoted to at least float32.
    """
    a, b = _pairs(boxes1, boxes2, aligned, 'bev_iou')
    inter = _intersection_area(a, b)                                         # [P]
    union = a[:, 3] * a[:, 4] + b[:, 3] * b[:, 4] - inter
    iou = _safe_ratio(inter, union)
    return iou if aligned else iou.reshape(boxes1.shape[0], boxes2.shape[0])


def iou3d(boxes1: Tensor, boxes2: Tensor, aligned: bool = False) -> Tensor:
    """Rotated 3D IoU of LiDAR boxes (differentiable), for the IoU-guided ranking loss.

    Args:
        boxes1: ``Tensor[N, 7]`` (x, y, z, dx, dy, dz, yaw), z at the bottom, sizes > 0.
        boxes2: ``Tensor[M, 7]`` (``M == N`` when ``aligned``).
        aligned: pair ``boxes1[i]`` with ``boxes2[i]`` only.

    Returns:
        ``Tensor[N, M]``, or ``Tensor[N]`` when ``aligned``: IoU in [0, 1], in the boxes'
        dtype promoted to at least float32.
    """
    a, b = _pairs(boxes1, boxes2, aligned, 'iou3d')
    inter_bev = _intersection_area(a, b)                                     # [P]
    top = torch.minimum(a[:, 2] + a[:, 5], b[:, 2] + b[:, 5])
    bottom = torch.maximum(a[:, 2], b[:, 2])
    inter = inter_bev * (top - bottom).clamp(min=0)
    union = a[:, 3] * a[:, 4] * a[:, 5] + b[:, 3] * b[:, 4] * b[:, 5] - inter
    iou = _safe_ratio(inter, union)
    return iou if aligned else iou.reshape(boxes1.shape[0], boxes2.shape[0])
