"""Plain-PyTorch point operators of SA-SSD's auxiliary network, on any device.

mmdet3d's ``SparseEncoderSASSD`` calls three mmcv operators that exist only on CUDA
(``points_in_boxes_all``, ``three_nn``, ``three_interpolate``). These stand-ins compute
the same quantities with ordinary tensor operations, with memory bounded by chunking:

- which LiDAR boxes contain each point (foreground labels and centre-offset targets of
  the auxiliary supervision): :func:`rankdet.ops.points_in_boxes.points_in_boxes`;
- :func:`three_nn_interpolate`: voxel features carried back to points by inverse-distance
  weighting of the three nearest voxel centres of the same frame (SA-SSD Eq. 1).
"""
import torch
from torch import Tensor

__all__ = ['three_nn_interpolate']

# Elements of one [chunk, M] distance block; 2**22 float32 values = 16 MiB.
_DISTANCE_BLOCK = 1 << 22
# Targets searched together: a compact patch of points (see _knn_in_frame).
_TARGET_CHUNK = 256


def _knn_in_frame(target: Tensor, source: Tensor, k: int, radius: float):
    """Exact k nearest sources of each target: ``(dist Tensor[n, k], index LongTensor[n, k])``.

    Targets are ordered by x-strips ``radius`` wide, then by y, and taken in chunks that
    are therefore compact in both; a chunk is compared with the sources inside its
    bounding rectangle widened by ``radius`` (an x window of the x-sorted sources, then a
    y mask). A neighbour found there is exact when it is closer than the rectangle's
    nearest edge, since every source outside is farther than that along x or y alone;
    the few targets without this guarantee are compared with all sources.
    """
    num_src = source.shape[0]
    src_order = source[:, 0].argsort()
    src_sorted = source[src_order]
    src_x = src_sorted[:, 0].contiguous()
    dist = target.new_empty(target.shape[0], k)
    index = torch.empty(target.shape[0], k, dtype=torch.long, device=target.device)
    strip = torch.div(target[:, 0] - target[:, 0].min(), radius, rounding_mode='floor')
    tgt_order = target[:, 1].argsort()
    tgt_order = tgt_order[strip[tgt_order].argsort(stable=True)]
    for start in range(0, target.shape[0], _TARGET_CHUNK):
        rows = tgt_order[start:start + _TARGET_CHUNK]
        points = target[rows]                                                # [c, 3]
        low = points[:, :2].min(dim=0).values - radius                       # [2] x, y
        high = points[:, :2].max(dim=0).values + radius
        first = int(torch.searchsorted(src_x, low[0]))
        last = int(torch.searchsorted(src_x, high[0], right=True))
        src_y = src_sorted[first:last, 1]
        cand = first + ((src_y >= low[1]) & (src_y <= high[1])).nonzero(as_tuple=True)[0]
        exhaustive = cand.numel() < k
        if exhaustive:
            cand = torch.arange(num_src, device=source.device)
        d, i = _nearest(points, src_sorted[cand], k)                         # [c, k]
        i = cand[i]
        if not exhaustive:
            margin = torch.minimum(points[:, :2] - low, high - points[:, :2]).min(dim=1).values
            unsure = (d[:, -1] > margin).nonzero(as_tuple=True)[0]
            if unsure.numel():
                d[unsure], i[unsure] = _nearest(points[unsure], src_sorted, k)
        dist[rows], index[rows] = d, src_order[i]
    return dist, index


def _nearest(points: Tensor, candidates: Tensor, k: int):
    """Brute-force k nearest, in blocks of ``_DISTANCE_BLOCK`` distances."""
    chunk = max(1, _DISTANCE_BLOCK // max(1, candidates.shape[0]))
    found = [torch.cdist(points[s:s + chunk], candidates,
                         compute_mode='donot_use_mm_for_euclid_dist').topk(
                             k, dim=1, largest=False) for s in range(0, points.shape[0], chunk)]
    return torch.cat([f[0] for f in found]), torch.cat([f[1] for f in found])


def three_nn_interpolate(target_xyz: Tensor, target_batch: Tensor, source_xyz: Tensor,
                         source_batch: Tensor, source_feats: Tensor, k: int = 3,
                         radius: float = 1.0, eps: float = 1e-8) -> Tensor:
    """Features at target points: inverse-distance mean of the k nearest sources.

    For a target point ``p`` of frame b with nearest sources ``s_1..s_k`` of frame b
    (Euclidean distances ``d_j``)::

        f(p) = sum_j w_j f(s_j),   w_j = (1 / (d_j + eps)) / sum_l (1 / (d_l + eps))

    as mmcv's ``three_nn`` + ``three_interpolate``, but never across frames. A frame with
    fewer than k sources uses all of them; a frame without sources gives zeros. The
    neighbour search is exact for any ``radius`` (see :func:`_knn_in_frame`; about the
    distance to the k-th neighbour is fastest) and carries no gradient; the features do.
    Memory stays within blocks of ``2**22`` distances.

    Args:
        target_xyz: ``Tensor[N, 3]`` target points.
        target_batch: ``LongTensor[N]`` frame index of each target point.
        source_xyz: ``Tensor[M, 3]`` source positions (voxel centres).
        source_batch: ``LongTensor[M]`` frame index of each source.
        source_feats: ``Tensor[M, C]`` source features.
        k: number of neighbours (3, as SA-SSD).
        radius: x margin (metres) of the first search window.
        eps: added to the distances (mmcv's 1e-8).

    Returns:
        ``Tensor[N, C]``, in the targets' order.
    """
    out = source_feats.new_zeros(target_xyz.shape[0], source_feats.shape[1])
    for frame in torch.unique(target_batch).tolist():
        tgt = (target_batch == frame).nonzero(as_tuple=True)[0]              # [n]
        src = (source_batch == frame).nonzero(as_tuple=True)[0]              # [m]
        if src.numel() == 0:
            continue
        with torch.no_grad():
            dist, idx = _knn_in_frame(target_xyz[tgt].detach(), source_xyz[src].detach(),
                                      min(k, src.numel()), radius)          # [n, k]
            weight = 1.0 / (dist + eps)
            weight = weight / weight.sum(dim=1, keepdim=True)
        feats = source_feats[src[idx]]                                        # [n, k, C]
        out[tgt] = (weight.to(feats.dtype)[..., None] * feats).sum(dim=1)
    return out
