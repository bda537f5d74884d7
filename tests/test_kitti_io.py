"""KITTI file readers / writers and the camera <-> LiDAR box convention (mmdet3d 1.4)."""
import numpy as np
import pytest

from rankdet.kitti import (KittiCalib, KittiLabels, camera_to_lidar_boxes,
                           lidar_to_camera_boxes, limit_period, read_calib, read_label,
                           read_points, write_calib, write_label, write_points)
from rankdet.kitti.calib import format_calib_lines

# LiDAR (x forward, y left, z up) -> camera (x right, y down, z forward), no offset
AXES_LIDAR2CAM = np.array([[0., -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]])


def random_labels(rng, n, with_score=False):
    names = rng.choice(['Car', 'Pedestrian', 'Cyclist', 'DontCare'], n)
    return KittiLabels(
        names=list(names), truncated=rng.uniform(0, 1, n), occluded=rng.integers(0, 4, n),
        alpha=rng.uniform(-np.pi, np.pi, n), bbox=rng.uniform(0, 1242, (n, 4)),
        hwl=rng.uniform(0.5, 5, (n, 3)), location=rng.uniform(-40, 70, (n, 3)),
        rotation_y=rng.uniform(-np.pi, np.pi, n),
        score=rng.uniform(0, 1, n) if with_score else None)


def random_camera_boxes(rng, n):
    xyz = rng.uniform([-20, -1, 2], [20, 3, 70], (n, 3))
    lhw = rng.uniform([3, 1.3, 1.4], [5, 2, 2], (n, 3))
    return np.column_stack([xyz, lhw, rng.uniform(-np.pi, np.pi, n)])


def camera_corners(box):
    """Corners of a camera box (x, y, z, l, h, w, ry), built from KITTI's definition:
    l along the heading (cos ry, 0, -sin ry), h upwards (-y), w across."""
    x, y, z, l, h, w, ry = box
    heading = np.array([np.cos(ry), 0, -np.sin(ry)])
    across = np.array([np.sin(ry), 0, np.cos(ry)])
    return np.array([[x, y, z] + a * l / 2 * heading + b * w / 2 * across + [0, -c * h, 0]
                     for a in (-1, 1) for b in (-1, 1) for c in (0, 1)])


def lidar_corners(box):
    """Corners of a LiDAR box (x, y, z, dx, dy, dz, yaw): dx along (cos yaw, sin yaw, 0)."""
    x, y, z, dx, dy, dz, yaw = box
    heading = np.array([np.cos(yaw), np.sin(yaw), 0])
    across = np.array([-np.sin(yaw), np.cos(yaw), 0])
    return np.array([[x, y, z] + a * dx / 2 * heading + b * dy / 2 * across + [0, 0, c * dz]
                     for a in (-1, 1) for b in (-1, 1) for c in (0, 1)])


def points_in_lidar_box(points, box, margin=0.0):
    """Mask of points inside a LiDAR box grown by ``margin`` on every side."""
    x, y, z, dx, dy, dz, yaw = box
    rel = points[:, :2] - [x, y]
    along = rel @ [np.cos(yaw), np.sin(yaw)]
    across = rel @ [-np.sin(yaw), np.cos(yaw)]
    return ((np.abs(along) <= dx / 2 + margin) & (np.abs(across) <= dy / 2 + margin)
            & (points[:, 2] >= z - margin) & (points[:, 2] <= z + dz + margin))


# ----------------------------------------------------------------------------- labels
def test_label_line_fields(tmp_path):
    path = tmp_path / 'label.txt'
    path.write_text('Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 '
                    '13.22 1.62\n'
                    'DontCare -1 -1 -10 5.00 229.89 214.12 367.61 -1 -1 -1 -1000 -1000 '
                    '-1000 -10\n\n')
    labels = read_label(path)
    assert labels.names == ['Car', 'DontCare']
    assert labels.score is None
    np.testing.assert_array_equal(labels.occluded, [0, -1])
    np.testing.assert_array_equal(labels.bbox[0], [614.24, 181.78, 727.31, 284.77])
    np.testing.assert_array_equal(labels.hwl[0], [1.57, 1.73, 4.15])
    # mmdet3d's camera box layout: x y z l h w ry
    np.testing.assert_array_equal(labels.camera_boxes()[0],
                                  [1.00, 1.75, 13.22, 4.15, 1.57, 1.73, 1.62])
    np.testing.assert_array_equal(labels.location[1], [-1000, -1000, -1000])


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('with_score', [False, True])
def test_label_round_trip(tmp_path, seed, with_score):
    rng = np.random.default_rng(seed)
    labels = random_labels(rng, 12, with_score)
    path = tmp_path / 'label.txt'
    write_label(path, labels)
    back = read_label(path)
    assert back.names == labels.names
    np.testing.assert_array_equal(back.occluded, labels.occluded)
    for field in ('truncated', 'alpha', 'bbox', 'hwl', 'location', 'rotation_y'):
        # two printed decimals: off by at most half a unit in the last place
        np.testing.assert_allclose(getattr(back, field), getattr(labels, field),
                                   rtol=0, atol=0.005 + 1e-9, err_msg=field)
    if with_score:
        np.testing.assert_allclose(back.score, labels.score, rtol=0, atol=0.00005 + 1e-12)
    # what was read back is exactly representable: writing it again changes nothing
    first = path.read_text()
    write_label(path, back)
    assert path.read_text() == first
    np.testing.assert_array_equal(read_label(path).camera_boxes(), back.camera_boxes())


def test_label_empty_file(tmp_path):
    path = tmp_path / 'empty.txt'
    write_label(path, KittiLabels.empty())
    assert path.read_text() == ''
    labels = read_label(path)
    assert len(labels) == 0 and labels.camera_boxes().shape == (0, 7)


@pytest.mark.parametrize('text, message', [
    ('Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 13.22\n',
     r'label\.txt:2: expected 15 fields .* got 14'),
    ('Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 abc 1.00 1.75 13.22 1.62\n',
     r"label\.txt:2: field 'l' must be a number, got 'abc'"),
    ('Car 0.00 0.5 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 13.22 1.62\n',
     r"label\.txt:2: field 'occluded' must be an integer"),
    ('Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 13.22 1.62 0.9\n',
     r'label\.txt: some lines have a score'),
])
def test_label_malformed(tmp_path, text, message):
    path = tmp_path / 'label.txt'
    good = 'Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 13.22 1.62\n'
    path.write_text(good + text)
    with pytest.raises(ValueError, match=message):
        read_label(path)


def test_label_lines_are_kept_for_messages(tmp_path):
    """Each object knows its line in the file (blank lines counted), and keeps it
    through select(): converters name 'file:line' when they report an object."""
    car = 'Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 13.22 1.62\n'
    path = tmp_path / 'label.txt'
    path.write_text(car + '\n' + car.replace('Car', 'Bus') + '\n\n' + car)
    labels = read_label(path)
    assert labels.names == ['Car', 'Bus', 'Car']
    assert labels.line.tolist() == [1, 3, 6]
    assert labels.select([False, True, True]).line.tolist() == [3, 6]
    assert random_labels(np.random.default_rng(0), 2).select([1]).line is None


def test_labels_check_shapes():
    with pytest.raises(ValueError, match=r'KittiLabels.bbox must have shape \(2, 4\)'):
        KittiLabels(['Car', 'Car'], [0, 0], [0, 0], [0, 0], np.zeros((2, 3)),
                    np.zeros((2, 3)), np.zeros((2, 3)), [0, 0])


# ----------------------------------------------------------------------------- calib
def test_calib_real_sample_round_trip(kitti_sample_root, tmp_path):
    for path in sorted((kitti_sample_root / 'training' / 'calib').glob('*.txt')):
        calib = read_calib(path)
        assert calib.P2.shape == calib.R0_rect.shape == calib.Tr_velo_to_cam.shape == (4, 4)
        np.testing.assert_array_equal(calib.R0_rect[3], [0, 0, 0, 1])
        # KITTI's own files are written in the same %.12e format: text round trips
        original = [ln for ln in path.read_text().splitlines() if ln.strip()]
        assert format_calib_lines(calib) == original
        write_calib(tmp_path / path.name, calib)
        again = read_calib(tmp_path / path.name)
        for key in ('P0', 'P1', 'P2', 'P3', 'R0_rect', 'Tr_velo_to_cam', 'Tr_imu_to_velo'):
            np.testing.assert_array_equal(getattr(again, key), getattr(calib, key))


def test_real_sample_labels_match_scan_and_image(kitti_sample_root):
    """On real KITTI frames: labelled objects have LiDAR points inside their boxes once
    converted with the calib and the mmdet3d convention, and the 3D box centre projects
    into the labelled 2D box. This pins the conventions to real data."""
    checked = 0
    for label_path in sorted((kitti_sample_root / 'training' / 'label_2').glob('*.txt')):
        stem = label_path.stem
        labels = read_label(label_path)
        calib = read_calib(kitti_sample_root / 'training' / 'calib' / f'{stem}.txt')
        points = read_points(kitti_sample_root / 'training' / 'velodyne' / f'{stem}.bin')
        assert points.dtype == np.float32 and points.shape[1] == 4 and len(points) > 100_000
        keep = [n != 'DontCare' for n in labels.names]
        objects = labels.select(keep)
        boxes = camera_to_lidar_boxes(objects.camera_boxes(), calib.lidar2cam)
        for box, bbox, z_cam in zip(boxes, objects.bbox, objects.location[:, 2]):
            inside = np.count_nonzero(points_in_lidar_box(points, box, margin=0.1))
            if z_cam < 30:  # near objects are well covered by a 64-beam scan
                assert inside > 50, (stem, box, inside)
            centre = np.append(box[:3] + [0, 0, box[5] / 2], 1.0)
            u, v, w = calib.lidar2img[:3] @ centre
            assert bbox[0] - 2 <= u / w <= bbox[2] + 2 and bbox[1] - 2 <= v / w <= bbox[3] + 2
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize('text, message', [
    ('P2: 1 2 3\n', r'calib\.txt:3: P2 needs 12 numbers .* got 3'),
    ('P2: 1 2 3 4 5 6 7 8 9 10 11 x\n', r'calib\.txt:3: P2 must hold numbers'),
    ('P2 1 2 3 4 5 6 7 8 9 10 11 12\n', r"calib\.txt:3: expected 'KEY: numbers'"),
    ('', r"calib\.txt: missing calibration key\(s\) \['P2'"),
])
def test_calib_malformed(tmp_path, text, message):
    lines = ['P0: ' + ' '.join(['1'] * 12), 'P1: ' + ' '.join(['1'] * 12), text.rstrip('\n'),
             'P3: ' + ' '.join(['1'] * 12), 'R0_rect: ' + ' '.join(['1'] * 9),
             'Tr_velo_to_cam: ' + ' '.join(['1'] * 12),
             'Tr_imu_to_velo: ' + ' '.join(['1'] * 12)]
    path = tmp_path / 'calib.txt'
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ValueError, match=message):
        read_calib(path)


# ----------------------------------------------------------------------------- points
def test_points_round_trip(tmp_path):
    points = np.random.default_rng(0).normal(size=(1000, 4)).astype(np.float32)
    write_points(tmp_path / 'scan.bin', points)
    assert (tmp_path / 'scan.bin').stat().st_size == 1000 * 16
    np.testing.assert_array_equal(read_points(tmp_path / 'scan.bin'), points)
    np.testing.assert_array_equal(read_points(tmp_path / 'scan.bin', num_features=2),
                                  points.reshape(-1, 2))


def test_points_errors(tmp_path):
    path = tmp_path / 'broken.bin'
    path.write_bytes(b'\0' * 18)
    with pytest.raises(ValueError, match=r'broken\.bin: 18 bytes is not a whole number'):
        read_points(path)
    with pytest.raises(ValueError, match=r'shape \[N, F\]'):
        write_points(tmp_path / 'x.bin', np.zeros(8))
    assert not (tmp_path / 'x.bin').exists()


# ----------------------------------------------------------------------------- boxes
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_box_transform_round_trip_and_layout(seed):
    rng = np.random.default_rng(seed)
    calib_like = AXES_LIDAR2CAM.copy()
    calib_like[:3, 3] = rng.normal(0, 0.3, 3)
    boxes = random_camera_boxes(rng, 50)
    lidar = camera_to_lidar_boxes(boxes, calib_like)
    np.testing.assert_allclose(lidar[:, 3:6], boxes[:, [3, 5, 4]])  # (l, w, h)
    assert np.all((lidar[:, 6] >= -np.pi) & (lidar[:, 6] < np.pi))
    np.testing.assert_allclose(lidar[:, 6], limit_period(-boxes[:, 6] - np.pi / 2))
    back = lidar_to_camera_boxes(lidar, calib_like)
    np.testing.assert_allclose(back[:, :6], boxes[:, :6], atol=1e-9)
    np.testing.assert_allclose(limit_period(back[:, 6] - boxes[:, 6]), 0, atol=1e-9)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_box_transform_moves_corners(seed):
    """The converted box has the same 8 corners, built independently in each frame:
    exactly for a pure axis swap, to the calib's small tilt for a real KITTI calib."""
    rng = np.random.default_rng(seed)
    real = KittiCalib(**{k: rng.normal(size=(3, 4)) for k in ('P0', 'P1', 'P2', 'P3')},
                      R0_rect=[[0.9999239, 0.00983776, -0.007445048],
                               [-0.009869795, 0.9999421, -0.004278459],
                               [0.007402527, 0.004351614, 0.9999631]],
                      Tr_velo_to_cam=[[0.007533745, -0.9999714, -0.000616602, -0.004069766],
                                      [0.01480249, 0.0007280733, -0.9998902, -0.07631618],
                                      [0.9998621, 0.00752379, 0.01480755, -0.2717806]],
                      Tr_imu_to_velo=np.eye(4))
    for lidar2cam, atol in ((AXES_LIDAR2CAM, 1e-9), (real.lidar2cam, 0.1)):
        to_lidar = np.linalg.inv(lidar2cam)
        for box in random_camera_boxes(rng, 10):
            expected = camera_corners(box) @ to_lidar[:3, :3].T + to_lidar[:3, 3]
            got = lidar_corners(camera_to_lidar_boxes(box[None], lidar2cam)[0])
            # same corner order in both builders: (-l, -w, bottom), (-l, -w, top), ...
            np.testing.assert_allclose(got, expected, atol=atol)


def test_box_transform_bad_input():
    with pytest.raises(ValueError, match=r'boxes_cam must have shape \[N, 7\]'):
        camera_to_lidar_boxes(np.zeros((3, 6)), np.eye(4))
    with pytest.raises(ValueError, match='lidar2cam must be a 4x4'):
        lidar_to_camera_boxes(np.zeros((3, 7)), np.eye(3))


@pytest.mark.parametrize('seed', [0, 1])
def test_box_transform_matches_mmdet3d(seed):
    try:
        import torch
        from mmdet3d.structures import Box3DMode
    except ImportError as error:
        pytest.skip(f'mmdet3d is not importable ({error}); install it to compare with '
                    f'its Box3DMode.convert')
    rng = np.random.default_rng(seed)
    real = KittiCalib(**{k: np.eye(4) for k in ('P0', 'P1', 'P2', 'P3', 'Tr_imu_to_velo')},
                      R0_rect=[[0.9999128, 0.01009263, -0.008511932],
                               [-0.01012729, 0.9999406, -0.004037671],
                               [0.008470675, 0.004123522, 0.9999556]],
                      Tr_velo_to_cam=[[0.006927964, -0.9999722, -0.002757829, -0.02457729],
                                      [-0.001162982, 0.002749836, -0.9999955, -0.06127237],
                                      [0.9999753, 0.006931141, -0.001143899, -0.3321029]])
    boxes = random_camera_boxes(rng, 40)
    lidar2cam = real.lidar2cam
    theirs = Box3DMode.convert(torch.from_numpy(boxes), Box3DMode.CAM, Box3DMode.LIDAR,
                               rt_mat=torch.from_numpy(np.linalg.inv(lidar2cam)))
    ours = camera_to_lidar_boxes(boxes, lidar2cam)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-6)
    theirs_back = Box3DMode.convert(torch.from_numpy(ours), Box3DMode.LIDAR, Box3DMode.CAM,
                                    rt_mat=torch.from_numpy(lidar2cam))
    np.testing.assert_allclose(lidar_to_camera_boxes(ours, lidar2cam), theirs_back.numpy(),
                               atol=1e-6)
