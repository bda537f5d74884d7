"""Box geometry, open3d offscreen renders, bird's-eye views and tools/vis3d.py."""
import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from rankdet.visualization.bev import render_bev
from rankdet.visualization.box_geometry import (BOX_EDGES, HEADING_EDGES, bev_footprints,
                                                box_corners, box_line_set, heading_segments)
from rankdet.visualization.predictions import load_predictions
from rankdet.visualization.scene_items import GT_COLOUR, PRED_COLOUR, BoxSet

ROOT = Path(__file__).resolve().parents[1]
FOV_DEG = 50.0  # render_image's vertical field of view


def random_boxes(seed, n=6):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.uniform(-20, 20, (n, 3)), rng.uniform(0.5, 5, (n, 3)),
                           rng.uniform(-np.pi, np.pi, (n, 1))], 1)


def reference_corners(box):
    """Corners written plainly: bottom-face centre, half sizes, then a yaw rotation."""
    x, y, z, dx, dy, dz, yaw = box
    c, s = np.cos(yaw), np.sin(yaw)
    out = []
    # mmdet3d's order: back face (-dx/2) right-bottom, right-top, left-top, left-bottom,
    # then the same on the front face (+dx/2); right is -y.
    for lx in (-dx / 2, dx / 2):
        for ly, lz in ((-dy / 2, 0), (-dy / 2, dz), (dy / 2, dz), (dy / 2, 0)):
            out.append([x + c * lx - s * ly, y + s * lx + c * ly, z + lz])
    return np.array(out)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_box_corners_match_plain_reference(seed):
    boxes = random_boxes(seed)
    expected = np.stack([reference_corners(b) for b in boxes])
    np.testing.assert_allclose(box_corners(boxes), expected, atol=1e-9)


@pytest.mark.parametrize('seed', [0, 1])
def test_box_corners_match_mmdet3d(seed):
    torch = pytest.importorskip('torch')
    structures = pytest.importorskip('mmdet3d.structures')
    boxes = random_boxes(seed)
    theirs = structures.LiDARInstance3DBoxes(torch.tensor(boxes)).corners.numpy()
    np.testing.assert_allclose(box_corners(boxes), theirs, atol=1e-6)


def test_heading_marks_point_along_yaw():
    boxes = random_boxes(3)
    corners = box_corners(boxes)
    for k, (x, y, z, dx, dy, dz, yaw) in enumerate(boxes):
        front_centre = np.array([x + dx / 2 * np.cos(yaw), y + dx / 2 * np.sin(yaw),
                                 z + dz / 2])
        for a, b in HEADING_EDGES:  # the cross's diagonals meet at the front face centre
            np.testing.assert_allclose((corners[k, a] + corners[k, b]) / 2, front_centre,
                                       atol=1e-9)
        np.testing.assert_allclose(heading_segments(boxes)[k, 1], front_centre[:2],
                                   atol=1e-9)
    vertices, lines = box_line_set(boxes)
    assert lines.shape == (len(boxes) * (len(BOX_EDGES) + len(HEADING_EDGES)), 2)
    np.testing.assert_allclose(vertices[lines[14:28]], corners[1][np.concatenate(
        [BOX_EDGES, HEADING_EDGES])])
    # the footprint is the bottom face: 4 corners at z, spanning dx by dy
    footprint = bev_footprints(boxes)
    np.testing.assert_allclose(np.linalg.norm(footprint[:, 1] - footprint[:, 0], axis=1),
                               boxes[:, 4])
    np.testing.assert_allclose(np.linalg.norm(footprint[:, 2] - footprint[:, 1], axis=1),
                               boxes[:, 3])


def test_bad_boxes_are_named():
    with pytest.raises(ValueError, match=r"BoxSet 'gt' boxes must have shape \[N, 7\]"):
        BoxSet(np.zeros((3, 5)), name='gt')
    with pytest.raises(ValueError, match='2 boxes but 3 scores'):
        BoxSet(np.zeros((2, 7)), scores=[0.1, 0.2, 0.3])


def scene(seed=0):
    """A ground plane of points and one car-sized box standing on it."""
    rng = np.random.default_rng(seed)
    ground = np.column_stack([rng.uniform(0, 40, 6000), rng.uniform(-15, 15, 6000),
                              np.full(6000, -1.7), rng.uniform(0, 1, 6000)])
    box = np.array([[15.0, 2.0, -1.7, 4.2, 1.8, 1.6, 0.4]])
    return ground.astype(np.float32), box


def project(points, look_at, eye, up, width, height):
    """Pinhole projection of open3d's setup_camera(FOV_DEG, look_at, eye, up)."""
    forward = (look_at - eye) / np.linalg.norm(look_at - eye)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, forward)
    rel = points - eye
    depth = rel @ forward
    tan = np.tan(np.radians(FOV_DEG) / 2)
    u = (rel @ right / (depth * tan * width / height) + 1) / 2 * width
    v = (1 - rel @ cam_up / (depth * tan)) / 2 * height
    return np.stack([u, v], 1)


def colour_mask(image, colour):
    return np.abs(image.astype(float) - 255 * np.asarray(colour)).max(-1) < 60


def test_offscreen_render_draws_the_box_where_it_projects():
    pytest.importorskip('open3d')
    from rankdet.visualization.open3d_scene import default_camera, render_image

    points, box = scene()
    width, height = 320, 240
    camera = default_camera(points, 'chase')
    plain = render_image(points, [], width=width, height=height, camera=camera)
    boxed = render_image(points, [BoxSet(box, GT_COLOUR, 'gt')], width=width,
                         height=height, camera=camera)
    assert plain.shape == boxed.shape == (height, width, 3)
    colours, counts = np.unique(plain.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) > 1 and counts.max() < 0.97 * width * height  # points drawn
    changed = (plain != boxed).any(-1)
    assert changed.sum() > 100
    # what changed is the box's green (edges blend into the background), inside the
    # box's projected outline
    assert colour_mask(boxed, GT_COLOUR).sum() > 100
    assert (boxed[changed].argmax(-1) == 1).mean() > 0.95
    uv = project(box_corners(box)[0], *camera, width, height)
    rows, cols = np.nonzero(changed)
    assert cols.min() >= uv[:, 0].min() - 3 and cols.max() <= uv[:, 0].max() + 3
    assert rows.min() >= uv[:, 1].min() - 3 and rows.max() <= uv[:, 1].max() + 3
    # and it really spans the outline, not a corner of it
    assert cols.max() - cols.min() > 0.8 * np.ptp(uv[:, 0])


def test_render_png_writes_the_image(tmp_path):
    pytest.importorskip('open3d')
    from PIL import Image

    from rankdet.visualization.open3d_scene import render_png

    points, box = scene(1)
    out = render_png(tmp_path / 'scene.png', points, [BoxSet(box, PRED_COLOUR, 'pred')],
                     width=200, height=150, view='bev')
    image = np.asarray(Image.open(out).convert('RGB'))
    assert image.shape == (150, 200, 3)
    assert colour_mask(image, PRED_COLOUR).sum() > 20
    assert [p.name for p in tmp_path.iterdir()] == ['scene.png']  # no temporary left


def test_bev_draws_boxes_in_their_colour_at_their_place(tmp_path):
    from PIL import Image

    points, box = scene(2)
    x_range, y_range, size = (0.0, 40.0), (-20.0, 20.0), 400
    plain = render_bev(tmp_path / 'plain.png', points, [], x_range, y_range, size)
    pred = BoxSet(box, PRED_COLOUR, 'pred', scores=[0.87])
    boxed = render_bev(tmp_path / 'boxed.png', points, [pred], x_range, y_range, size)
    plain = np.asarray(Image.open(plain).convert('RGB'))
    boxed = np.asarray(Image.open(boxed).convert('RGB'))
    assert plain.shape == boxed.shape == (400, 400, 3)
    colours, counts = np.unique(plain.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) > 1 and counts.max() < 0.99 * size * size  # points drawn
    red = colour_mask(boxed, PRED_COLOUR) & (plain != boxed).any(-1)
    # outline, heading, score text and legend are red; the outline sits where the box
    # is: +x up, +y left, 10 px per metre
    footprint = bev_footprints(box)[0]
    cols = (y_range[1] - footprint[:, 1]) / (y_range[1] - y_range[0]) * size
    rows = (x_range[1] - footprint[:, 0]) / (x_range[1] - x_range[0]) * size
    window = red[int(rows.min()) - 2:int(rows.max()) + 3, int(cols.min()) - 2:int(cols.max()) + 3]
    assert window.sum() > 40
    assert red.sum() > window.sum()  # the score text and legend besides


def test_bev_skips_boxes_off_the_view(tmp_path):
    """An untrained model predicts boxes kilometres away or long: not drawn, no crash."""
    from PIL import Image

    points, box = scene(2)
    x_range, y_range, size = (0.0, 40.0), (-20.0, 20.0), 400
    far = box.copy()
    far[:, :2] = [1e9, -5e8]  # matplotlib alone fails on text this far off
    inside = BoxSet(box, PRED_COLOUR, 'pred', scores=[0.87])
    huge = box.copy()
    huge[:, 3:6] = 1e20  # centred in the view, kilometres long
    both = BoxSet(np.concatenate([box, far, huge, np.full_like(box, np.nan)]),
                  PRED_COLOUR, 'pred', scores=[0.87, 0.9, 0.8, 0.5])
    one = render_bev(tmp_path / 'one.png', points, [inside], x_range, y_range, size)
    two = render_bev(tmp_path / 'two.png', points, [both], x_range, y_range, size)
    np.testing.assert_array_equal(np.asarray(Image.open(one)), np.asarray(Image.open(two)))


def test_load_predictions_reads_mmdet3d_pickle_and_json(tmp_path):
    torch = pytest.importorskip('torch')
    structures = pytest.importorskip('mmdet3d.structures')
    boxes = random_boxes(4, 3)
    frames = [dict(sample_idx=i, lidar_path=f'data/kitti/training/velodyne_reduced/'
                   f'00000{n}.bin', pred_instances_3d=dict(
                       bboxes_3d=structures.LiDARInstance3DBoxes(torch.tensor(boxes + i)),
                       scores_3d=torch.tensor([0.9, 0.5, 0.1]),
                       labels_3d=torch.tensor([2, 0, 1])))
              for i, n in enumerate([1, 2, 4])]
    with open(tmp_path / 'results.pkl', 'wb') as f:
        pickle.dump(frames, f)
    preds = load_predictions(tmp_path / 'results.pkl', lidar_name='000002.bin')
    np.testing.assert_allclose(preds.boxes, boxes + 1, rtol=1e-6)
    assert preds.labels.tolist() == [2, 0, 1]
    assert preds.above(0.3).scores.tolist() == pytest.approx([0.9, 0.5])
    with pytest.raises(ValueError, match=r"0 of its 3 frames match lidar_path '000003.bin'"):
        load_predictions(tmp_path / 'results.pkl', lidar_name='000003.bin')

    (tmp_path / 'one.json').write_text(json.dumps(dict(
        bboxes_3d=boxes.tolist(), scores_3d=[0.3, 0.2, 0.1])))
    preds = load_predictions(tmp_path / 'one.json')
    assert preds.labels.tolist() == [-1, -1, -1]
    (tmp_path / 'bad.json').write_text(json.dumps(dict(bboxes_3d=[[1, 2, 3]],
                                                       scores_3d=[0.5])))
    with pytest.raises(ValueError, match=r'bad.json: bboxes_3d must have shape \[N, 7\]'):
        load_predictions(tmp_path / 'bad.json')


def load_tool():
    spec = importlib.util.spec_from_file_location('vis3d_tool', ROOT / 'tools' / 'vis3d.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_vis3d_tool_draws_a_kitti_frame_with_predictions(kitti_sample_root, tmp_path,
                                                         capsys):
    pytest.importorskip('open3d')
    from PIL import Image

    from rankdet.kitti import camera_to_lidar_boxes, read_calib, read_label

    labels = read_label(kitti_sample_root / 'training' / 'label_2' / '000002.txt')
    labels = labels.select([n != 'DontCare' for n in labels.names])
    calib = read_calib(kitti_sample_root / 'training' / 'calib' / '000002.txt')
    gt = camera_to_lidar_boxes(labels.camera_boxes(), calib.lidar2cam)
    predicted = gt + np.array([1.5, 1.0, 0, 0, 0, 0, 0.3])  # near, not on, the objects
    (tmp_path / 'results.json').write_text(json.dumps([dict(
        lidar_path='training/velodyne_reduced/000002.bin', bboxes_3d=predicted.tolist(),
        scores_3d=[0.95, 0.05], labels_3d=[0, 0])]))
    out, bev = tmp_path / 'frame.png', tmp_path / 'frame_bev.png'
    load_tool().main(['--kitti-root', str(kitti_sample_root), '--split', 'training',
                      '--index', '000002', '--fov-only', '--results',
                      str(tmp_path / 'results.json'), '--score-thr', '0.3', '--out',
                      str(out), '--bev-out', str(bev), '--width', '480', '--height', '270'])
    assert f'{len(gt)} ground truth, 1 predictions' in capsys.readouterr().out
    view = np.asarray(Image.open(out).convert('RGB'))
    assert view.shape == (270, 480, 3)
    for image in (view, np.asarray(Image.open(bev).convert('RGB'))):
        assert colour_mask(image, GT_COLOUR).sum() > 20
        assert colour_mask(image, PRED_COLOUR).sum() > 20


def test_vis3d_tool_without_display_asks_for_out(kitti_sample_root, monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    monkeypatch.setattr('sys.platform', 'linux')
    with pytest.raises(SystemExit, match='no display for a window here; pass --out'):
        load_tool().main(['--kitti-root', str(kitti_sample_root), '--index', '000002'])
    with pytest.raises(SystemExit, match=r'vis3d.py: error: .*000009.bin'):
        load_tool().main(['--kitti-root', str(kitti_sample_root), '--index', '000009',
                          '--out', 'unused.png'])


# ------------------------------------------- results are matched to the frame, always
def write_results(path, entries):
    path.write_text(json.dumps(entries))
    return path


def test_a_single_entry_for_another_frame_is_refused(tmp_path):
    """A results file of one frame is looked up like any other: the entry of frame
    000001 is not drawn on frame 000002 (it was, before: a lone entry was taken as it
    was), by lidar_path, by sample_idx, and by split folder for the same file name."""
    boxes = random_boxes(5, 2).tolist()
    one = dict(lidar_path='data/kitti/training/velodyne_reduced/000001.bin',
               bboxes_3d=boxes, scores_3d=[0.9, 0.4])
    results = write_results(tmp_path / 'one.json', [one])
    with pytest.raises(ValueError, match=r"one.json: 0 of its 1 frames match lidar_path "
                                         r"'000002.bin'.*it holds \['000001.bin'\]"):
        load_predictions(results, lidar_name='000002.bin')
    preds = load_predictions(results, lidar_name='kitti/training/velodyne/000001.bin')
    np.testing.assert_allclose(preds.boxes, boxes)
    # the same file name in the other split is another frame
    with pytest.raises(ValueError, match='0 of its 1 frames match'):
        load_predictions(results, lidar_name='kitti/testing/velodyne/000001.bin')

    by_index = write_results(tmp_path / 'idx.json', [dict(sample_idx=1, bboxes_3d=boxes,
                                                          scores_3d=[0.9, 0.4])])
    with pytest.raises(ValueError, match=r"sample_idx 2; it holds \[1\]"):
        load_predictions(by_index, sample_idx=2)
    assert len(load_predictions(by_index, sample_idx=1).boxes) == 2
    # a lone entry that names no frame is the documented one-frame layout
    unnamed = write_results(tmp_path / 'unnamed.json', [dict(bboxes_3d=boxes,
                                                             scores_3d=[0.9, 0.4])])
    assert len(load_predictions(unnamed, lidar_name='000002.bin', sample_idx=2).boxes) == 2


def test_a_frame_twice_in_the_file_is_refused(tmp_path):
    entry = dict(lidar_path='training/velodyne_reduced/000002.bin',
                 bboxes_3d=random_boxes(6, 1).tolist(), scores_3d=[0.5])
    results = write_results(tmp_path / 'twice.json', [entry, entry])
    with pytest.raises(ValueError, match='2 of its 2 frames match'):
        load_predictions(results, lidar_name='000002.bin')


def test_load_kitti_frame_names_the_frame(kitti_sample_root):
    from rankdet.visualization.frames import load_bin_frame, load_kitti_frame

    frame = load_kitti_frame(kitti_sample_root, 'training', '2')
    assert frame.lidar_path == kitti_sample_root / 'training' / 'velodyne' / '000002.bin'
    assert frame.sample_idx == 2
    assert frame.points.shape[1] == 4 and len(frame.gt_boxes) > 0
    bare = load_bin_frame(frame.lidar_path)
    np.testing.assert_array_equal(bare.points, frame.points)
    assert bare.gt_boxes is None and bare.sample_idx is None


def test_vis3d_tool_refuses_another_frames_single_result(kitti_sample_root, tmp_path):
    """tools/vis3d.py with a one-entry results file of frame 000001 asked for frame
    000002: an error naming both, no picture; with --bin, the scan's name is matched."""
    results = write_results(tmp_path / 'results.json', [dict(
        lidar_path='training/velodyne_reduced/000001.bin',
        bboxes_3d=random_boxes(7, 2).tolist(), scores_3d=[0.9, 0.8])])
    bev = tmp_path / 'bev.png'
    with pytest.raises(SystemExit, match=r"vis3d.py: error: .*results.json: 0 of its 1 "
                                         r"frames match lidar_path '.*000002.bin'.*"
                                         r"\['000001.bin'\]"):
        load_tool().main(['--kitti-root', str(kitti_sample_root), '--index', '000002',
                          '--results', str(results), '--bev-out', str(bev)])
    assert not bev.exists()
    scan = kitti_sample_root / 'training' / 'velodyne' / '000003.bin'
    with pytest.raises(SystemExit, match=r"0 of its 1 frames match lidar_path "
                                         r"'.*000003.bin'"):
        load_tool().main(['--bin', str(scan), '--results', str(results),
                          '--bev-out', str(bev)])


# ------------------------------------------ the library functions behind vis3d and the demo
def test_points_in_range_keeps_the_points_a_model_sees():
    from rankdet.visualization.crop import points_in_range

    rng = np.random.default_rng(8)
    points = rng.uniform(-5, 5, (500, 4)).astype(np.float32)
    points[:4, :3] = [[0, -2, -1], [3, 2, 1], [3.01, 0, 0], [0, 0, 1.01]]  # bounds, beyond
    pcr = (0, -2, -1, 3, 2, 1)
    expected = [p for p in points if all(pcr[i] <= p[i] <= pcr[i + 3] for i in range(3))]
    kept = points_in_range(points, pcr)
    np.testing.assert_array_equal(kept, np.array(expected))
    assert kept.dtype == np.float32 and kept[:2].tolist() == points[:2].tolist()
    with pytest.raises(ValueError, match=r'points must have shape \[N, C>=3\]'):
        points_in_range(points[:, :2], pcr)
    with pytest.raises(ValueError, match='point_cloud_range must be'):
        points_in_range(points, pcr[:4])


def test_frame_box_sets_show_the_truth_and_the_kept_predictions():
    from rankdet.visualization import Predictions
    from rankdet.visualization.frames import Frame, frame_box_sets

    gt, boxes = random_boxes(9, 3), random_boxes(10, 4)
    preds = Predictions(boxes, np.array([0.9, 0.2, 0.5, 0.3]), np.array([0, 1, 2, 1]))
    frame = Frame(np.zeros((5, 4), np.float32), gt, Path('000004.bin'), 4)
    truth, kept = frame_box_sets(frame, preds, score_thr=0.3, with_labels=True)
    assert (truth.name, truth.colour, truth.scores) == ('ground truth', GT_COLOUR, None)
    np.testing.assert_array_equal(truth.boxes, gt)
    assert (kept.name, kept.colour) == ('predictions', PRED_COLOUR)
    np.testing.assert_array_equal(kept.boxes, boxes[[0, 2, 3]])
    assert kept.scores.tolist() == [0.9, 0.5, 0.3] and kept.labels.tolist() == [0, 2, 1]
    # a frame without labels has no ground-truth set; labels only when asked for
    bare = Frame(frame.points, None, frame.lidar_path)
    (only,) = frame_box_sets(bare, preds, 0.6, pred_name='p >= 0.6')
    assert only.name == 'p >= 0.6' and only.labels is None and len(only.boxes) == 1
    assert frame_box_sets(bare) == []
