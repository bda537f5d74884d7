"""rankdet.ops.iou3d (torch, differentiable) and rankdet.ops.iou3d_numba (evaluation).

References: shapely polygons times the height overlap, Monte-Carlo sampling, the
axis-aligned IoU at 0 and 90 degrees, mmcv's ``box_iou_rotated`` and mmdet3d's box
corners; gradients by float64 finite differences (``gradcheck``).
"""
import math

import numpy as np
import pytest
import torch

from rankdet.ops import bev_iou, iou3d

SEEDS = (0, 1, 2)


def random_boxes(n, seed, spread=2.0, dtype=torch.float64):
    """``Tensor[n, 7]`` LiDAR boxes close enough together to overlap often."""
    g = torch.Generator().manual_seed(seed)
    boxes = torch.rand(n, 7, generator=g, dtype=dtype)
    boxes[:, :2] = (boxes[:, :2] * 2 - 1) * spread
    boxes[:, 2] = boxes[:, 2] - 0.5
    boxes[:, 3:6] = boxes[:, 3:6] * 3 + 0.5
    boxes[:, 6] = (boxes[:, 6] * 2 - 1) * math.pi
    return boxes


def bev_corners(box):
    """The 4 BEV corners of one box, written out from the convention (numpy)."""
    x, y, _, dx, dy, _, yaw = (float(v) for v in box)
    c, s = math.cos(yaw), math.sin(yaw)
    local = [(dx / 2, dy / 2), (-dx / 2, dy / 2), (-dx / 2, -dy / 2), (dx / 2, -dy / 2)]
    return [(x + c * u - s * v, y + s * u + c * v) for u, v in local]


def shapely_iou(a, b, mode):
    """IoU of two boxes from shapely polygon areas (times the height overlap in 3D)."""
    from shapely.geometry import Polygon
    pa, pb = Polygon(bev_corners(a)), Polygon(bev_corners(b))
    inter = pa.intersection(pb).area
    if mode == 'bev':
        return inter / (pa.area + pb.area - inter)
    za, zb = float(a[2]), float(b[2])
    h = max(0.0, min(za + float(a[5]), zb + float(b[5])) - max(za, zb))
    va, vb = pa.area * float(a[5]), pb.area * float(b[5])
    return inter * h / (va + vb - inter * h)


def monte_carlo_bev_iou(a, b, num=200_000, seed=0):
    """IoU from uniform samples in a square that holds both boxes."""
    g = torch.Generator().manual_seed(seed)
    reach = float(max(a[3:5].max(), b[3:5].max()))
    lo = torch.minimum(a[:2], b[:2]) - reach
    hi = torch.maximum(a[:2], b[:2]) + reach
    pts = lo + (hi - lo) * torch.rand(num, 2, generator=g, dtype=a.dtype)

    def inside(box):
        c, s = torch.cos(box[6]), torch.sin(box[6])
        d = pts - box[:2]
        u, v = c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]
        return (u.abs() <= box[3] / 2) & (v.abs() <= box[4] / 2)

    ia, ib = inside(a), inside(b)
    return ((ia & ib).sum() / (ia | ib).sum()).item()


def axis_aligned_bev_iou(a, b):
    """Plain axis-aligned IoU of the (x, y, dx, dy) rectangles."""
    ax1, ax2 = a[0] - a[3] / 2, a[0] + a[3] / 2
    ay1, ay2 = a[1] - a[4] / 2, a[1] + a[4] / 2
    bx1, bx2 = b[0] - b[3] / 2, b[0] + b[3] / 2
    by1, by2 = b[1] - b[4] / 2, b[1] + b[4] / 2
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    return inter / (a[3] * a[4] + b[3] * b[4] - inter)


def box(x=0.0, y=0.0, z=0.0, dx=4.0, dy=2.0, dz=1.5, yaw=0.0):
    return [x, y, z, dx, dy, dz, yaw]


def t64(rows):
    return torch.tensor(rows, dtype=torch.float64)


# Special cases: (name, box a, box b, expected BEV IoU, expected 3D IoU)
SPECIAL = [
    ('identical', box(1, 2, 0.3, yaw=0.7), box(1, 2, 0.3, yaw=0.7), 1.0, 1.0),
    ('nested', box(dx=4, dy=4, dz=2, yaw=0.3), box(0.2, -0.1, 0.5, 1, 1, 1, 1.1),
     1 / 16, 1 / 32),
    ('touching edge', box(0, 0, dx=2, dy=2), box(2, 0, dx=2, dy=2), 0.0, 0.0),
    ('touching corner', box(0, 0, dx=2, dy=2, yaw=math.pi / 4),
     box(2 * math.sqrt(2), 0, dx=2, dy=2, yaw=math.pi / 4), 0.0, 0.0),
    ('disjoint', box(0, 0), box(10, -3, yaw=1.0), 0.0, 0.0),
    ('stacked, no height overlap', box(z=0, dz=1), box(z=1, dz=1), 1.0, 0.0),
    ('half height overlap', box(z=0, dz=2), box(z=1, dz=2), 1.0, 1 / 3),
    ('yaw +pi vs -pi', box(yaw=math.pi), box(yaw=-math.pi), 1.0, 1.0),
    ('yaw and yaw + pi', box(yaw=0.4), box(yaw=0.4 + math.pi), 1.0, 1.0),
    ('crossed at 90 degrees', box(dx=4, dy=2), box(dx=4, dy=2, yaw=math.pi / 2),
     4 / 12, 4 * 1.5 / (24 - 6)),
]


@pytest.mark.parametrize('name,a,b,expected_bev,expected_3d', SPECIAL,
                         ids=[case[0] for case in SPECIAL])
def test_special_cases(name, a, b, expected_bev, expected_3d):
    a, b = t64([a]), t64([b])
    for fn, expected in ((bev_iou, expected_bev), (iou3d, expected_3d)):
        assert fn(a, b).item() == pytest.approx(expected, abs=1e-7)
        assert fn(b, a).item() == pytest.approx(expected, abs=1e-7)
        assert fn(a, b, aligned=True).item() == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize('seed', SEEDS)
def test_random_boxes_match_shapely(seed):
    pytest.importorskip('shapely', reason='shapely is the polygon reference')
    a, b = random_boxes(12, seed), random_boxes(9, seed + 100)
    got_bev, got_3d = bev_iou(a, b), iou3d(a, b)
    expected_bev = torch.tensor([[shapely_iou(p, q, 'bev') for q in b] for p in a],
                                dtype=torch.float64)
    expected_3d = torch.tensor([[shapely_iou(p, q, '3d') for q in b] for p in a],
                               dtype=torch.float64)
    assert (expected_bev > 0).float().mean() > 0.3  # the test covers real overlaps
    torch.testing.assert_close(got_bev, expected_bev, atol=1e-7, rtol=0)
    torch.testing.assert_close(got_3d, expected_3d, atol=1e-7, rtol=0)
    # aligned form = diagonal of the pairwise form
    torch.testing.assert_close(iou3d(a[:9], b, aligned=True), got_3d[:9].diagonal())


def test_yaw_near_plus_minus_pi_matches_shapely():
    pytest.importorskip('shapely', reason='shapely is the polygon reference')
    yaws = [math.pi - 1e-3, -math.pi + 1e-3, math.pi - 0.3, -math.pi + 0.2, math.pi, -math.pi]
    a = t64([box(0.1 * i, -0.05 * i, 0.1, 4.0, 1.8, 1.5, yaw) for i, yaw in enumerate(yaws)])
    b = t64([box(0.0, 0.2, 0.0, 3.7, 1.9, 1.4, yaw) for yaw in yaws[::-1]])
    expected = torch.tensor([[shapely_iou(p, q, '3d') for q in b] for p in a],
                            dtype=torch.float64)
    torch.testing.assert_close(iou3d(a, b), expected, atol=1e-7, rtol=0)


@pytest.mark.parametrize('seed', SEEDS)
def test_random_boxes_match_monte_carlo(seed):
    a, b = random_boxes(4, seed, spread=1.0), random_boxes(4, seed + 50, spread=1.0)
    got = bev_iou(a, b, aligned=True)
    expected = torch.tensor([monte_carlo_bev_iou(p, q, seed=seed) for p, q in zip(a, b)],
                            dtype=torch.float64)
    torch.testing.assert_close(got, expected, atol=0.01, rtol=0)


@pytest.mark.parametrize('seed', SEEDS)
def test_zero_and_90_degrees_equal_axis_aligned(seed):
    a, b = random_boxes(10, seed), random_boxes(10, seed + 7)
    a[:, 6] = 0.0
    b[:, 6] = 0.0
    expected = torch.tensor([axis_aligned_bev_iou(p.tolist(), q.tolist())
                             for p, q in zip(a, b)], dtype=torch.float64)
    # the inside tolerance (1e-9 m) may widen an area by perimeter * 1e-9
    torch.testing.assert_close(bev_iou(a, b, aligned=True), expected, atol=1e-8, rtol=0)
    # 90 degrees: the same rectangles with dx and dy swapped
    turned_a, turned_b = a.clone(), b.clone()
    turned_a[:, [3, 4]], turned_b[:, [3, 4]] = a[:, [4, 3]], b[:, [4, 3]]
    turned_a[:, 6] = math.pi / 2
    turned_b[:, 6] = -math.pi / 2
    torch.testing.assert_close(bev_iou(turned_a, turned_b, aligned=True), expected,
                               atol=1e-8, rtol=0)


@pytest.mark.parametrize('seed', SEEDS)
def test_symmetry_and_rigid_motion_invariance(seed):
    a, b = random_boxes(8, seed), random_boxes(6, seed + 3)
    for fn in (bev_iou, iou3d):
        torch.testing.assert_close(fn(a, b), fn(b, a).T, atol=1e-8, rtol=0)
    # rotate both sets about an arbitrary vertical axis, then translate (also in z)
    g = torch.Generator().manual_seed(seed)
    angle = float(torch.rand(1, generator=g)) * 2 * math.pi
    shift = torch.randn(3, generator=g, dtype=torch.float64) * 20

    def move(boxes):
        c, s = math.cos(angle), math.sin(angle)
        moved = boxes.clone()
        moved[:, 0] = c * boxes[:, 0] - s * boxes[:, 1]
        moved[:, 1] = s * boxes[:, 0] + c * boxes[:, 1]
        moved[:, :3] += shift
        moved[:, 6] = boxes[:, 6] + angle
        return moved

    for fn in (bev_iou, iou3d):
        torch.testing.assert_close(fn(move(a), move(b)), fn(a, b), atol=1e-8, rtol=0)
    # a box is the same box after a half or a full turn
    flipped = b.clone()
    flipped[:, 6] += torch.tensor([math.pi, -math.pi, 2 * math.pi] * 2, dtype=b.dtype)
    torch.testing.assert_close(iou3d(a, flipped), iou3d(a, b), atol=1e-8, rtol=0)


@pytest.mark.parametrize('seed', SEEDS)
def test_gradients_match_finite_differences(seed):
    # non-degenerate pairs: partly overlapping, no coinciding edges
    a = random_boxes(5, seed, spread=0.8).requires_grad_()
    b = random_boxes(5, seed + 11, spread=0.8).requires_grad_()
    assert (bev_iou(a, b, aligned=True) > 0).all()
    assert torch.autograd.gradcheck(lambda p, q: iou3d(p, q, aligned=True), (a, b))
    assert torch.autograd.gradcheck(lambda p, q: bev_iou(p, q, aligned=True), (a, b))
    assert torch.autograd.gradcheck(lambda p, q: iou3d(p, q), (a[:3], b[:4]))


def test_gradients_near_yaw_pi():
    a = t64([box(0.3, -0.2, 0.1, 4.0, 1.8, 1.5, math.pi - 1e-3)]).requires_grad_()
    b = t64([box(0.0, 0.1, 0.0, 3.6, 2.0, 1.4, -math.pi + 0.2)]).requires_grad_()
    assert torch.autograd.gradcheck(lambda p, q: iou3d(p, q, aligned=True), (a, b))


@pytest.mark.parametrize('name,a,b,expected_bev,expected_3d', SPECIAL,
                         ids=[case[0] for case in SPECIAL])
def test_degenerate_cases_have_finite_gradients(name, a, b, expected_bev, expected_3d):
    for dtype in (torch.float64, torch.float32):
        pa = torch.tensor([a], dtype=dtype, requires_grad=True)
        pb = torch.tensor([b], dtype=dtype, requires_grad=True)
        (iou3d(pa, pb, aligned=True).sum() + bev_iou(pa, pb).sum()).backward()
        assert torch.isfinite(pa.grad).all() and torch.isfinite(pb.grad).all()
        assert pa.grad.abs().max() < 10 and pb.grad.abs().max() < 10


def test_zero_size_boxes_give_zero_not_nan():
    zero = torch.zeros(2, 7, dtype=torch.float64, requires_grad=True)
    other = t64([box(), box(5, 5)])
    out = iou3d(zero, other) + iou3d(zero, zero.detach())
    assert torch.equal(out, torch.zeros(2, 2, dtype=torch.float64))
    out.sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_float32_far_from_origin_close_to_float64():
    a, b = random_boxes(50, 5), random_boxes(50, 6)
    a[:, :2] += 60.0
    b[:, :2] += 60.0
    expected = iou3d(a, b, aligned=True)
    got = iou3d(a.float(), b.float(), aligned=True)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, atol=2e-4, rtol=0)
    same = iou3d(a.float(), a.float(), aligned=True)
    torch.testing.assert_close(same, torch.ones_like(same))


def test_output_shapes_and_empty_inputs():
    a, b = random_boxes(3, 0), random_boxes(4, 1)
    assert bev_iou(a, b).shape == (3, 4)
    assert iou3d(a, b[:3], aligned=True).shape == (3,)
    assert iou3d(a[:0], b).shape == (0, 4)
    assert iou3d(a, b[:0]).shape == (3, 0)
    assert bev_iou(a[:0], b[:0], aligned=True).shape == (0,)


def test_malformed_inputs_raise_clear_errors():
    good = random_boxes(3, 0)
    with pytest.raises(ValueError, match=r'boxes2 of shape \(N, 7\).*got shape \(3, 5\)'):
        iou3d(good, good[:, :5])
    with pytest.raises(ValueError, match='boxes1 of shape'):
        bev_iou(good[0], good)
    with pytest.raises(ValueError, match='as many boxes.*got 3 and 2'):
        iou3d(good, good[:2], aligned=True)
    with pytest.raises(TypeError, match='torch.Tensor'):
        bev_iou(good.numpy(), good)
    with pytest.raises(TypeError, match='floating point'):
        bev_iou(good.long(), good)


def test_matches_mmcv_box_iou_rotated():
    ops = pytest.importorskip('mmcv.ops', reason='mmcv with its ops is the reference')
    for seed in SEEDS:
        a, b = random_boxes(15, seed), random_boxes(10, seed + 20)
        # mmcv's boxes are (x_ctr, y_ctr, w, h, angle); its default clockwise=True means
        # clockwise in an image (y down), which is counter-clockwise with y up, as LiDAR
        # yaw is (the flag negates the angle when False)
        expected = ops.box_iou_rotated(a[:, [0, 1, 3, 4, 6]].float(),
                                       b[:, [0, 1, 3, 4, 6]].float(), clockwise=True)
        mirrored = ops.box_iou_rotated(a[:, [0, 1, 3, 4, 6]].float(),
                                       b[:, [0, 1, 3, 4, 6]].float(), clockwise=False)
        assert (mirrored - expected).abs().max() > 0.05  # the flag matters here
        assert (expected > 0).float().mean() > 0.3
        torch.testing.assert_close(bev_iou(a, b).float(), expected, atol=1e-4, rtol=0)


def test_corner_convention_matches_mmdet3d_lidar_boxes():
    pytest.importorskip('shapely', reason='shapely is the polygon reference')
    structures = pytest.importorskip('mmdet3d.structures',
                                     reason='mmdet3d defines the LiDAR box convention')
    from shapely.geometry import MultiPoint
    a, b = random_boxes(6, 3), random_boxes(6, 4)
    corners_a = structures.LiDARInstance3DBoxes(a.float()).corners.double()  # [N, 8, 3]
    corners_b = structures.LiDARInstance3DBoxes(b.float()).corners.double()
    # z at the bottom: the corners span z .. z + dz
    torch.testing.assert_close(corners_a[..., 2].amin(1), a[:, 2], atol=1e-5, rtol=0)
    torch.testing.assert_close(corners_a[..., 2].amax(1), a[:, 2] + a[:, 5], atol=1e-5,
                               rtol=0)
    for i in range(6):
        pa = MultiPoint(corners_a[i, :, :2].tolist()).convex_hull
        pb = MultiPoint(corners_b[i, :, :2].tolist()).convex_hull
        inter = pa.intersection(pb).area
        expected = inter / (pa.area + pb.area - inter)
        assert bev_iou(a[i:i + 1], b[i:i + 1]).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize('seed', SEEDS)
def test_numba_version_matches_torch(seed):
    iou3d_numba = pytest.importorskip('rankdet.ops.iou3d_numba',
                                      reason='the evaluation overlaps need numba')
    a, b = random_boxes(20, seed), random_boxes(15, seed + 30)
    a[:4] = b[:4]  # identical boxes too
    expected_3d = iou3d(a, b).numpy()
    expected_bev = bev_iou(a, b).numpy()
    np.testing.assert_allclose(iou3d_numba.box3d_overlaps(a.numpy(), b.numpy()),
                               expected_3d, atol=1e-10, rtol=0)
    bev = [0, 1, 3, 4, 6]
    np.testing.assert_allclose(iou3d_numba.bev_overlaps(a[:, bev].numpy(), b[:, bev].numpy()),
                               expected_bev, atol=1e-10, rtol=0)
    # other criteria: intersection, and over either box's area
    inter = iou3d_numba.bev_overlaps(a[:, bev].numpy(), b[:, bev].numpy(), criterion=2)
    area_a = (a[:, 3] * a[:, 4]).numpy()[:, None]
    area_b = (b[:, 3] * b[:, 4]).numpy()[None]
    np.testing.assert_allclose(inter / (area_a + area_b - inter), expected_bev, atol=1e-10)
    np.testing.assert_allclose(
        iou3d_numba.bev_overlaps(a[:, bev].numpy(), b[:, bev].numpy(), criterion=0),
        inter / area_a, atol=1e-12)
    np.testing.assert_allclose(
        iou3d_numba.bev_overlaps(a[:, bev].numpy(), b[:, bev].numpy(), criterion=1),
        inter / area_b, atol=1e-12)


def test_numba_overlaps_by_frame_equal_per_frame_blocks():
    iou3d_numba = pytest.importorskip('rankdet.ops.iou3d_numba',
                                      reason='the evaluation overlaps need numba')
    a, b = random_boxes(9, 0).numpy(), random_boxes(7, 1).numpy()
    counts_a, counts_b = [3, 0, 4, 2], [2, 3, 0, 2]
    flat, start = iou3d_numba.overlaps_by_frame(a, b, counts_a, counts_b)
    assert start.tolist() == [0, 6, 6, 6, 10]
    ia, ib = np.cumsum([0] + counts_a), np.cumsum([0] + counts_b)
    for f in range(4):
        block = iou3d_numba.box3d_overlaps(a[ia[f]:ia[f + 1]], b[ib[f]:ib[f + 1]])
        np.testing.assert_array_equal(
            flat[start[f]:start[f + 1]].reshape(counts_a[f], counts_b[f]), block)
    with pytest.raises(ValueError, match='add up'):
        iou3d_numba.overlaps_by_frame(a, b, [3, 3], [3, 4])
    with pytest.raises(ValueError, match=r'\(N, 5\) \(BEV\) or \(N, 7\)'):
        iou3d_numba.overlaps_by_frame(a[:, :6], b[:, :6], [9], [7])
    with pytest.raises(ValueError, match='criterion'):
        iou3d_numba.box3d_overlaps(a, b, criterion=3)
