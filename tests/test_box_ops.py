"""rankdet.ops.box_corners and rankdet.ops.points_in_boxes: the one corner formula and the
one points-in-boxes test of the tree, against hand-computed boxes and brute force, and
that the former copies now call them."""
import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rankdet.ops.box_corners import (BEV_CCW, CORNER_SIGNS, bev_corners, box_corners,
                                     camera_box_corners)
from rankdet.ops.points_in_boxes import points_in_boxes

ROOT = Path(__file__).resolve().parents[1]


def random_boxes(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-20, 20, (n, 2)), rng.uniform(-2, 1, n),
                            rng.uniform(0.5, 5, (n, 3)), rng.uniform(-math.pi, math.pi, n)])


# ----------------------------------------------------------------------------- corners
def test_corners_of_a_hand_computed_box():
    # 4 x 2 x 1.5 box, bottom centre (1, 2, 3), turned a quarter left: its heading (+x)
    # now points along +y, its left side (+y) along -x
    corners = box_corners([1.0, 2.0, 3.0, 4.0, 2.0, 1.5, math.pi / 2])
    expected = [[2, 0, 3], [2, 0, 4.5], [0, 0, 4.5], [0, 0, 3],      # back face, y = 2 - 2
                [2, 4, 3], [2, 4, 4.5], [0, 4, 4.5], [0, 4, 3]]      # front face, y = 2 + 2
    np.testing.assert_allclose(corners, expected, atol=1e-12)
    assert corners.dtype == np.float64 and corners.shape == (8, 3)


def test_corners_rotate_the_signed_half_sizes():
    """Brute force: each corner is the centre plus R(yaw) applied to its signed half sizes."""
    boxes = random_boxes(50)
    corners = box_corners(boxes)
    for box, got in zip(boxes, corners):
        x, y, z, dx, dy, dz, yaw = box
        rot = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
        for (sx, sy, sz), corner in zip(CORNER_SIGNS, got):
            xy = np.array([x, y]) + rot @ [sx * dx / 2, sy * dy / 2]
            np.testing.assert_allclose(corner, [*xy, z + sz * dz], atol=1e-12)


def test_corners_match_mmdet3d():
    structures = pytest.importorskip('mmdet3d.structures')
    boxes = random_boxes(30, seed=1)
    theirs = structures.LiDARInstance3DBoxes(torch.from_numpy(boxes)).corners.numpy()
    # mmdet3d rotates in float32: agreement to its precision, corner by corner (order too)
    np.testing.assert_allclose(box_corners(boxes), theirs, atol=1e-5)


def test_corners_of_tensors_are_tensors_with_gradients():
    boxes = torch.from_numpy(random_boxes(7, seed=2)).requires_grad_(True)
    corners = box_corners(boxes)
    assert isinstance(corners, torch.Tensor) and corners.dtype == torch.float64
    np.testing.assert_array_equal(corners.detach().numpy(), box_corners(boxes.detach().numpy()))
    corners[..., 0].sum().backward()
    assert torch.isfinite(boxes.grad).all() and boxes.grad[:, 0].eq(8).all()
    batched = box_corners(boxes.detach().reshape(7, 1, 7))
    assert batched.shape == (7, 1, 8, 3)


def test_bev_corners_are_the_bottom_corners_counter_clockwise():
    boxes = random_boxes(20, seed=3)
    bev = bev_corners(boxes)
    np.testing.assert_array_equal(bev, box_corners(boxes)[:, list(BEV_CCW), :2])
    x, y = bev[..., 0], bev[..., 1]
    area = 0.5 * (x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y).sum(1)  # shoelace, CCW > 0
    np.testing.assert_allclose(area, boxes[:, 3] * boxes[:, 4], rtol=1e-9)
    # front-left first: along the heading and to the left of the centre
    local = bev[:, 0] - boxes[:, :2]
    heading = np.column_stack([np.cos(boxes[:, 6]), np.sin(boxes[:, 6])])
    left = np.column_stack([-np.sin(boxes[:, 6]), np.cos(boxes[:, 6])])
    assert ((local * heading).sum(1) > 0).all() and ((local * left).sum(1) > 0).all()


def test_camera_box_corners_match_the_kitti_devkit():
    """The devkit's computeBox3D: R_y(ry) applied to (±l/2, 0 or -h, ±w/2), plus the
    bottom centre (camera frame, y down); compared as sets of corners."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        x, y, z = rng.uniform(-10, 10), rng.uniform(0, 2), rng.uniform(5, 40)
        l, h, w, ry = rng.uniform(1, 5), rng.uniform(1, 2), rng.uniform(1, 2), \
            rng.uniform(-math.pi, math.pi)
        rot = np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0],
                        [-math.sin(ry), 0, math.cos(ry)]])
        local = np.array([[a * l / 2, -up * h, b * w / 2]
                          for a in (-1, 1) for b in (-1, 1) for up in (0, 1)])
        reference = local @ rot.T + [x, y, z]
        got = camera_box_corners([x, y, z, l, h, w, ry])
        np.testing.assert_allclose(np.array(sorted(map(tuple, got))),
                                   np.array(sorted(map(tuple, reference))), atol=1e-9)


def test_corners_reject_bad_shapes():
    with pytest.raises(ValueError, match=r'box_corners expects boxes of shape \[\.\.\., 7\]'):
        box_corners(np.zeros((3, 6)))
    with pytest.raises(ValueError, match='camera_box_corners expects boxes'):
        camera_box_corners(np.zeros(8))


# ----------------------------------------------------------------------------- points
BOX = [1.0, -2.0, 0.5, 4.0, 2.0, 1.5]  # x, y, z (bottom), dx, dy, dz


def box_frame_points(yaw):
    """Points given in the box's own axes (u along the heading), put into the LiDAR frame,
    with whether each is strictly inside: faces, edges and corners are outside."""
    x, y, z, dx, dy, dz = BOX
    local = [  # (u, v, height above the bottom), inside?
        ((0, 0, 0.75), True), ((1.99, 0.99, 0.01), True), ((-1.99, -0.99, 1.49), True),
        ((2, 0, 0.75), False), ((-2, 0, 0.75), False),             # front / back face
        ((0, 1, 0.75), False), ((0, -1, 0.75), False),             # left / right face
        ((0, 0, 0), False), ((0, 0, 1.5), False),                  # bottom / top face
        ((2, 1, 0.75), False), ((2, 0, 0), False), ((0, -1, 1.5), False),  # edges
        ((2, 1, 1.5), False), ((-2, -1, 0), False),                # corners
        ((2.01, 0, 0.75), False), ((0, 0, -0.01), False), ((0, 1.01, 1.0), False),
    ]
    c, s = math.cos(yaw), math.sin(yaw)
    points = [[x + c * u - s * v, y + s * u + c * v, z + h] for (u, v, h), _ in local]
    return np.array(points), np.array([inside for _, inside in local])


def test_points_on_faces_edges_and_corners_are_outside():
    points, expected = box_frame_points(0.0)
    boxes = np.array([BOX + [0.0]])
    np.testing.assert_array_equal(points_in_boxes(points, boxes)[:, 0], expected)
    got = points_in_boxes(torch.from_numpy(points), torch.from_numpy(boxes))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.bool
    np.testing.assert_array_equal(got[:, 0].numpy(), expected)


def test_inclusive_puts_faces_edges_and_corners_inside():
    """SA-SSD's rule: on the box (faces, edges, corners) is inside; beyond it is not."""
    points, expected = box_frame_points(0.0)
    boxes = np.array([BOX + [0.0]])
    local = points - np.array(BOX[:3])
    on_or_in = ((np.abs(local[:, 0]) <= BOX[3] / 2) & (np.abs(local[:, 1]) <= BOX[4] / 2)
                & (local[:, 2] >= 0) & (local[:, 2] <= BOX[5]))
    assert (on_or_in & ~expected).sum() == 11  # the 11 points on faces, edges and corners
    assert not on_or_in[-3:].any()  # the three just beyond a face
    for xp_points, xp_boxes in ((points, boxes),
                                (torch.from_numpy(points), torch.from_numpy(boxes))):
        got = points_in_boxes(xp_points, xp_boxes, inclusive=True)[:, 0]
        np.testing.assert_array_equal(np.asarray(got), on_or_in)


def test_sassd_targets_count_points_on_the_box_as_foreground():
    """SA-SSD's auxiliary targets take the inclusive rule: a return on the car's side face
    (where a synthetic LiDAR ray meets the box) or on its bottom is foreground."""
    from rankdet.models.sassd.sparse_encoder_torch import SparseEncoderSASSDTorch

    box = torch.tensor([[10.0, 2.0, -1.75, 4.0, 2.0, 1.5, 0.0]])
    points = torch.tensor([[10.0, 2.0, -1.75], [12.0, 2.0, -1.0], [10.0, 3.0, -1.0],
                           [10.0, 2.0, -1.0], [12.01, 2.0, -1.0], [10.0, 2.0, -1.76]])
    inside, offsets = SparseEncoderSASSDTorch.calculate_pts_offsets(None, points, box)
    assert inside.reshape(-1).tolist() == [True, True, True, True, False, False]
    assert torch.allclose(offsets[1], points[1] - torch.tensor([10.0, 2.0, -1.0]))


@pytest.mark.parametrize('yaw', [0.3, -2.0, math.pi / 2])
def test_points_in_turned_boxes_match_brute_force(yaw):
    """Away from the faces (rotation rounds at 1e-16), the turned box holds what the box
    frame says; and random points against random boxes, one at a time."""
    points, expected = box_frame_points(yaw)
    interior = np.array([0, 1, 2, 14, 15, 16])  # clear of the faces by 0.01
    got = points_in_boxes(points[interior], np.array([BOX + [yaw]]))[:, 0]
    np.testing.assert_array_equal(got, expected[interior])

    rng = np.random.default_rng(5)
    boxes = random_boxes(6, seed=6)
    pts = np.column_stack([rng.uniform(-25, 25, (3000, 2)), rng.uniform(-3, 6, 3000)])
    inside = points_in_boxes(pts, boxes)
    for m, (x, y, z, dx, dy, dz, box_yaw) in enumerate(boxes):
        for n in range(0, len(pts), 7):
            px, py, pz = pts[n] - [x, y, z]
            u = math.cos(box_yaw) * px + math.sin(box_yaw) * py
            v = -math.sin(box_yaw) * px + math.cos(box_yaw) * py
            assert inside[n, m] == (abs(u) < dx / 2 and abs(v) < dy / 2 and 0 < pz < dz)
    assert inside.any()
    torch_inside = points_in_boxes(torch.from_numpy(pts), torch.from_numpy(boxes))
    np.testing.assert_array_equal(torch_inside.numpy(), inside)


def test_points_in_boxes_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r'points of shape \(N, 3\)'):
        points_in_boxes(np.zeros((4, 4)), np.zeros((1, 7)))
    with pytest.raises(ValueError, match=r'boxes of shape \(T, 7\)'):
        points_in_boxes(np.zeros((4, 3)), np.zeros((1, 9)))
    with pytest.raises(TypeError, match='boxes must be one too'):
        points_in_boxes(torch.zeros(4, 3), np.zeros((1, 7)))


# ----------------------------------------------------------------------------- one each
def imported_names(path: Path):
    """(module, name) pairs of the ``from module import name`` statements of ``path``."""
    return {(node.module, alias.name) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) for alias in node.names}


@pytest.mark.parametrize('path, names', [
    ('data_converters/synthetic/kitti_lidar.py', {'bev_corners', 'camera_box_corners'}),
    ('data_converters/kitti_converter.py', {'camera_box_corners', 'points_in_boxes'}),
    ('data_converters/kitti_gt_database.py', {'points_in_boxes'}),
    ('rankdet/visualization/box_geometry.py', {'box_corners'}),
    ('rankdet/ops/iou3d.py', {'bev_corners'}),
    ('rankdet/models/sassd/sparse_encoder_torch.py', {'points_in_boxes'}),
])
def test_former_copies_call_the_one_function(path, names):
    imported = {name for module, name in imported_names(ROOT / path)
                if module and module.split('.')[-1] in ('box_corners', 'points_in_boxes')}
    assert names <= imported, f'{path} imports {imported}'


def test_one_definition_of_each_in_the_tree():
    """No module but rankdet/ops defines a corner or points-in-boxes function."""
    definitions = {}
    for path in sorted(ROOT.glob('*/**/*.py')):
        if path.relative_to(ROOT).parts[0] in ('tests', '.venv', 'work_dirs', 'data'):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and (
                    'corners' in node.name and 'in_frame' not in node.name
                    or 'points_in_box' in node.name):
                definitions.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert definitions == {
        'box_corners': ['rankdet/ops/box_corners.py', 'rankdet/visualization/box_geometry.py'],
        'bev_corners': ['rankdet/ops/box_corners.py'],
        '_corners': ['rankdet/ops/box_corners.py'],
        'camera_box_corners': ['rankdet/ops/box_corners.py'],
        'points_in_boxes': ['rankdet/ops/points_in_boxes.py'],
    }, definitions


def test_visualization_corners_are_the_ops_corners():
    from rankdet.visualization.box_geometry import box_corners as drawn
    boxes = random_boxes(5, seed=7)
    extra = np.column_stack([boxes, np.ones(5)])  # a score column is dropped
    np.testing.assert_array_equal(drawn(extra), box_corners(boxes))
