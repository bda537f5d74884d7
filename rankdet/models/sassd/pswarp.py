"""Part-sensitive warping (PSWarp) of SA-SSD: a confidence per box from part maps.

He et al., "Structure Aware Single-stage 3D Object Detection from Point Cloud", CVPR
2020, Sec. 3.3. The classification branch predicts K part-sensitive maps per class
instead of one confidence map. A box is divided into a grid of K sub-windows (``P_l``
along its length, the heading, times ``P_w`` along its width); map k is read
(bilinearly) at the centre of sub-window k, and the box's confidence logit is the mean
of the K readings::

    score(box, c) = 1/K sum_k  map[k, c]( centre_k(box) )

    centre_k(box) = (x, y) + R(yaw) @ (((i + 1/2) / P_l - 1/2) dx, ((j + 1/2) / P_w - 1/2) dy)
    for k = i * P_w + j,  i < P_l,  j < P_w

A sub-window's reading therefore only scores the box when the object part that map k
learned sits where the box puts part k, which aligns the confidence with the box.

The sampling uses ``grid_sample(align_corners=True)``: pixel (0, 0) of the BEV map is
the point ``(x0, y0)`` and pixel (W-1, H-1) the point ``(x1, y1)``, the convention of
mmdet3d's ``Anchor3DRangeGenerator``, whose anchor centres are
``linspace(x_min, x_max, W)``. Reads outside the map repeat the border (a zero there would
be a logit of 0, i.e. a confidence of 0.5, for boxes at the edge of the range).

Differences from the public SA-SSD code (``PSWarpHead`` in ``ssd_rotate_head.py``), on
purpose: samples sit at sub-window centres rather than on a ``linspace(-0.5, 0.5)`` grid
that puts the outer ones on the box edges; metres map to pixels with the anchors'
convention above rather than ``x / stride``, which is half a pixel off it; and every
anchor's box is warped (a dense confidence map, the paper's formulation) rather than only
the boxes scoring above 0.1.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['part_centres', 'part_sensitive_warp']


def part_centres(boxes: Tensor, part_grid: Tuple[int, int]) -> Tensor:
    """BEV centres of the K = P_l * P_w sub-windows of each box.

    Args:
        boxes: ``Tensor[..., 7]`` LiDAR boxes ``(x, y, z, dx, dy, dz, yaw)``; ``dx`` is
            the length along the heading.
        part_grid: ``(P_l, P_w)``, sub-windows along the length and the width.

    Returns:
        ``Tensor[..., K, 2]``: (x, y) of sub-window k = i * P_w + j.
    """
    num_long, num_wide = part_grid
    along = (torch.arange(num_long, dtype=boxes.dtype, device=boxes.device) + 0.5) / num_long
    across = (torch.arange(num_wide, dtype=boxes.dtype, device=boxes.device) + 0.5) / num_wide
    u = ((along - 0.5)[:, None].expand(num_long, num_wide).reshape(-1)
         * boxes[..., 3:4])                                                # [..., K]
    v = ((across - 0.5)[None, :].expand(num_long, num_wide).reshape(-1)
         * boxes[..., 4:5])
    cos, sin = torch.cos(boxes[..., 6:7]), torch.sin(boxes[..., 6:7])
    x = boxes[..., 0:1] + cos * u - sin * v
    y = boxes[..., 1:2] + sin * u + cos * v
    return torch.stack([x, y], dim=-1)


def part_sensitive_warp(part_maps: Tensor, boxes: Tensor, part_grid: Tuple[int, int],
                        bev_corners: Tensor) -> Tensor:
    """Confidence logits of boxes read from part-sensitive maps (see the module doc).

    Args:
        part_maps: ``Tensor[B, K * C, H, W]``, channel ``k * C + c`` is part k of class c.
        boxes: ``Tensor[B, N, 7]`` LiDAR boxes to score (only x, y, dx, dy, yaw are
            read; no gradient flows into them).
        part_grid: ``(P_l, P_w)`` with ``P_l * P_w = K``.
        bev_corners: ``Tensor[4]`` ``(x0, y0, x1, y1)``: the points at pixel (0, 0) and
            at pixel (W-1, H-1), with ``x1 != x0`` and ``y1 != y0``.

    Returns:
        ``Tensor[B, N, C]``: the mean over the K parts of each box, per class.
    """
    num_images, channels, height, width = part_maps.shape
    num_parts = part_grid[0] * part_grid[1]
    if channels % num_parts:
        raise ValueError(f'part_sensitive_warp: part_maps has {channels} channels, not a '
                         f'multiple of the {num_parts} parts of part_grid {part_grid}')
    if boxes.dim() != 3 or boxes.shape[0] != num_images or boxes.shape[2] < 7:
        raise ValueError(f'part_sensitive_warp expects boxes of shape ({num_images}, N, 7), '
                         f'got {tuple(boxes.shape)}')
    num_classes = channels // num_parts
    num_boxes = boxes.shape[1]
    centres = part_centres(boxes.detach(), part_grid)                       # [B, N, K, 2]
    # normalised grid coordinates: -1 at pixel 0, +1 at pixel W-1 (align_corners=True)
    bev_corners = bev_corners.to(centres)
    origin, extent = bev_corners[:2], bev_corners[2:] - bev_corners[:2]
    grid = (centres - origin) / extent * 2 - 1
    grid = grid.permute(0, 2, 1, 3).reshape(num_images * num_parts, num_boxes, 1, 2)
    maps = part_maps.reshape(num_images * num_parts, num_classes, height, width)
    samples = F.grid_sample(maps, grid.to(maps.dtype), mode='bilinear',
                            padding_mode='border', align_corners=True)      # [B*K, C, N, 1]
    samples = samples.reshape(num_images, num_parts, num_classes, num_boxes)
    return samples.mean(dim=1).transpose(1, 2)
