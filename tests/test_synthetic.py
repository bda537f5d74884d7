"""The synthetic COCO-shapes and KITTI-LiDAR sets: format, content, determinism, atomicity."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_converters.synthetic import (SHAPES, CocoShapesConfig, KittiSceneConfig,
                                       LidarModel, generate_coco, generate_kitti, make_frame)
from data_converters.synthetic.atomic_dir import MARKER, build_atomically
from data_converters.synthetic.coco_shapes import make_image, shape_mask, visible_annotations
from rankdet.kitti import camera_to_lidar_boxes, limit_period, read_calib, read_label, \
    read_points
from data_converters.synthetic.kitti_lidar import IMAGE_SIZE

SMALL_COCO = CocoShapesConfig(num_train=40, num_val=12, num_classes=len(SHAPES), seed=3)
SMALL_KITTI = KittiSceneConfig(num_train=6, num_val=3, num_test=2, seed=5)
# a coarse sensor: enough to check files, four times faster to cast
COARSE = LidarModel(num_beams=32, azimuth_resolution_deg=0.8)


def tree_digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def points_in_lidar_box(points, box, margin=0.0, skip_bottom=0.0):
    """Mask of points inside a LiDAR box (x, y, z, dx, dy, dz, yaw), grown by ``margin``;
    ``skip_bottom`` metres above the bottom face are left out (the ground is there)."""
    x, y, z, dx, dy, dz, yaw = box
    rel = points[:, :2] - [x, y]
    along = rel @ [np.cos(yaw), np.sin(yaw)]
    across = rel @ [-np.sin(yaw), np.cos(yaw)]
    return ((np.abs(along) <= dx / 2 + margin) & (np.abs(across) <= dy / 2 + margin)
            & (points[:, 2] >= z + skip_bottom) & (points[:, 2] <= z + dz + margin))


def kitti_difficulty(height, occluded, truncated):
    """KITTI's benchmark levels: 0 easy, 1 moderate, 2 hard, -1 ignored."""
    for level, (min_height, max_occ, max_trunc) in enumerate(
            ((40, 0, 0.15), (25, 1, 0.30), (25, 2, 0.50))):
        if height >= min_height and occluded <= max_occ and truncated <= max_trunc:
            return level
    return -1


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    return generate_coco(tmp_path_factory.mktemp('synthetic') / 'coco', SMALL_COCO,
                         progress=False)


@pytest.fixture(scope='module')
def kitti_root(tmp_path_factory):
    return generate_kitti(tmp_path_factory.mktemp('synthetic') / 'kitti', SMALL_KITTI,
                          progress=False)


# ----------------------------------------------------------------------------- COCO
@pytest.mark.parametrize('split, count', [('train', 40), ('val', 12)])
def test_coco_loads_with_pycocotools(coco_root, split, count):
    from pycocotools.coco import COCO
    coco = COCO(str(coco_root / 'annotations' / f'instances_{split}2017.json'))
    assert len(coco.getImgIds()) == count
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(SHAPES)
    assert len(coco.getAnnIds()) >= 2 * count
    for image in coco.loadImgs(coco.getImgIds()):
        path = coco_root / f'{split}2017' / image['file_name']
        with Image.open(path) as decoded:
            assert decoded.mode == 'RGB'
            assert decoded.size == (image['width'], image['height'])
            decoded.load()
        assert 128 <= image['width'] <= 192 and 128 <= image['height'] <= 192
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=image['id'])):
            x, y, w, h = ann['bbox']
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= image['width'] and y + h <= image['height']
            assert SMALL_COCO.min_visible_pixels <= ann['area'] <= w * h
            assert ann['iscrowd'] == 0 and ann['category_id'] in coco.getCatIds()
            assert coco.annToMask(ann).sum() == w * h  # the polygon is the box


def test_coco_content(coco_root):
    data = json.loads((coco_root / 'annotations' / 'instances_train2017.json').read_text())
    val = json.loads((coco_root / 'annotations' / 'instances_val2017.json').read_text())
    ids = [a['id'] for a in data['annotations'] + val['annotations']]
    assert len(ids) == len(set(ids))
    assert not {i['id'] for i in data['images']} & {i['id'] for i in val['images']}
    assert {a['category_id'] for a in data['annotations']} == set(range(1, len(SHAPES) + 1))
    # occlusion: in some images annotated boxes overlap
    boxes = {}
    for a in data['annotations']:
        boxes.setdefault(a['image_id'], []).append(a['bbox'])
    overlapping = 0
    for bbs in boxes.values():
        for i, (x1, y1, w1, h1) in enumerate(bbs):
            for x2, y2, w2, h2 in bbs[i + 1:]:
                overlapping += min(x1 + w1, x2 + w2) > max(x1, x2) and \
                    min(y1 + h1, y2 + h2) > max(y1, y2)
    assert overlapping >= 5


@pytest.mark.parametrize('shape, area', [
    ('circle', np.pi), ('ring', np.pi * (1 - 0.55 ** 2)), ('ellipse', np.pi * 0.5),
    ('square', 2.0), ('cross', 2 * 2 * 0.6 - 0.6 ** 2), ('triangle', 3 * np.sqrt(3) / 4),
    ('hexagon', 3 * np.sqrt(3) / 2), ('star', 5 * 0.45 * np.sin(np.pi / 5))])
def test_shape_mask_area(shape, area):
    """Pixel counts of each shape at radius 60 match its area in units of radius^2."""
    radius = 60.0
    y, x = np.mgrid[-64:64, -64:64] + 0.5
    angle = 0.3
    u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
    count = shape_mask(shape, u, v, radius, aspect=0.5).sum()
    assert count == pytest.approx(area * radius ** 2, rel=0.02)


def test_visible_annotations_drop_hidden_objects():
    owner = np.full((20, 30), -1)
    owner[2:12, 3:13] = 0   # object 0: 100 of 100 pixels visible
    owner[15:17, 0:10] = 1  # object 1: 20 of 100 visible -> 80% hidden, dropped
    owner[0:5, 20:30] = 2   # object 2: 50 of 100 visible -> kept at 70% allowed
    owner[6:8, 20:22] = 3   # object 3: 4 of 4 visible but under min_visible_pixels
    anns = visible_annotations(owner, [1, 2, 3, 4], [100, 100, 100, 4],
                               max_occlusion=0.7, min_visible_pixels=10)
    assert [a['category_id'] for a in anns] == [1, 3]
    assert anns[0]['bbox'] == [3.0, 2.0, 10.0, 10.0] and anns[0]['area'] == 100.0
    assert anns[1]['bbox'] == [20.0, 0.0, 10.0, 5.0] and anns[1]['area'] == 50.0
    assert anns[1]['segmentation'] == [[20.0, 0.0, 30.0, 0.0, 30.0, 5.0, 20.0, 5.0]]
    strict = visible_annotations(owner, [1, 2, 3, 4], [100, 100, 100, 4],
                                 max_occlusion=0.0, min_visible_pixels=1)
    assert [a['category_id'] for a in strict] == [1, 4]


def test_only_cropped_shapes_lose_pixels():
    """One shape and no clutter: a shape away from the border keeps all its pixels
    (visible == whole area, on the same pixel lattice), and shapes that the border crops
    are dropped when no hidden share is allowed."""
    base = dict(min_objects=1, max_objects=1, min_clutter=0, max_clutter=0,
                num_classes=len(SHAPES), min_visible_pixels=1)
    strict = CocoShapesConfig(max_occlusion=0.0, **base)
    loose = CocoShapesConfig(max_occlusion=0.99, **base)
    cropped = 0
    for index in range(60):
        pixels, kept = make_image(strict, 'train', index)
        _, (ann,) = make_image(loose, 'train', index)  # same draws, one annotation
        height, width = pixels.shape[:2]
        x, y, w, h = ann['bbox']
        if x > 0 and y > 0 and x + w < width and y + h < height:
            assert kept == [ann], index
        else:
            cropped += not kept  # a shape may also end exactly at the border
    assert cropped >= 5


def test_coco_deterministic(tmp_path):
    """Same arguments, same bytes, also when two processes draw."""
    cfg = CocoShapesConfig(num_train=6, num_val=2, seed=11)
    first = tree_digest(generate_coco(tmp_path / 'a', cfg, progress=False))
    second = tree_digest(generate_coco(tmp_path / 'b', cfg, progress=False, workers=2))
    assert first == second and len(first) == 6 + 2 + 2 + 1
    other = tree_digest(generate_coco(tmp_path / 'c', CocoShapesConfig(
        num_train=6, num_val=2, seed=12), progress=False))
    assert other['train2017/000000000001.png'] != first['train2017/000000000001.png']


def test_coco_config_errors():
    with pytest.raises(ValueError, match='num_classes must be in 1..8'):
        CocoShapesConfig(num_classes=9)
    with pytest.raises(ValueError, match='min_objects <= max_objects'):
        CocoShapesConfig(min_objects=5, max_objects=2)


# ----------------------------------------------------------------------------- KITTI
KITTI_FOLDERS = ['ImageSets', 'testing', 'testing/calib', 'testing/image_2',
                 'testing/velodyne', 'training', 'training/calib', 'training/image_2',
                 'training/label_2', 'training/velodyne']


def folders(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_dir())


def test_kitti_layout(kitti_root):
    assert folders(kitti_root) == KITTI_FOLDERS
    sets = {name: (kitti_root / 'ImageSets' / f'{name}.txt').read_text().split()
            for name in ('train', 'val', 'trainval', 'test')}
    assert len(sets['train']) == 6 and len(sets['val']) == 3 and len(sets['test']) == 2
    assert sorted(sets['train'] + sets['val']) == sets['trainval']
    for split, ids, kinds in (('training', sets['trainval'], ('velodyne', 'calib',
                                                              'image_2', 'label_2')),
                              ('testing', sets['test'], ('velodyne', 'calib', 'image_2'))):
        for kind in kinds:
            stems = sorted(p.stem for p in (kitti_root / split / kind).iterdir())
            assert stems == ids, (split, kind)


def test_kitti_layout_matches_real_sample(kitti_sample_root):
    assert folders(kitti_sample_root) == KITTI_FOLDERS


def test_kitti_files_parse_and_agree(kitti_root):
    width, height = IMAGE_SIZE
    cars = 0
    for stem in (kitti_root / 'ImageSets' / 'trainval.txt').read_text().split():
        labels = read_label(kitti_root / 'training' / 'label_2' / f'{stem}.txt')
        calib = read_calib(kitti_root / 'training' / 'calib' / f'{stem}.txt')
        points = read_points(kitti_root / 'training' / 'velodyne' / f'{stem}.bin')
        with Image.open(kitti_root / 'training' / 'image_2' / f'{stem}.png') as image:
            assert image.size == (width, height)
        assert set(labels.names) <= {'Car', 'DontCare'}
        inside = [width - 1, height - 1]
        assert np.all((labels.bbox[:, :2] >= 0) & (labels.bbox[:, 2:] <= inside))
        assert np.all(labels.bbox[:, 2:] > labels.bbox[:, :2])
        assert np.all((points[:, 3] >= 0) & (points[:, 3] < 1))
        car = labels.select([n == 'Car' for n in labels.names])
        x, z, ry = car.location[:, 0], car.location[:, 2], car.rotation_y
        np.testing.assert_allclose(limit_period(car.alpha - (ry - np.arctan2(x, z))), 0,
                                   atol=0.011)
        boxes = camera_to_lidar_boxes(car.camera_boxes(), calib.lidar2cam)
        np.testing.assert_allclose(boxes[:, 2], -1.73, atol=0.02)  # on the ground
        for box, bbox, truncated in zip(boxes, car.bbox, car.truncated):
            inside = points_in_lidar_box(points, box, margin=0.1, skip_bottom=0.1)
            assert np.count_nonzero(inside) >= 3
            # the car's points project into its 2D box (the same P2 made both)
            uvw = np.column_stack([points[inside, :3], np.ones(inside.sum())]) \
                @ calib.lidar2img[:3].T
            u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
            in_box = (u >= bbox[0] - 3) & (u <= bbox[2] + 3) & (v >= bbox[1] - 3) & \
                (v <= bbox[3] + 3)
            assert in_box.mean() > 0.95 or truncated > 0
            cars += 1
    assert cars >= 15


@pytest.mark.parametrize('index', [0, 1, 2])
def test_kitti_scan_geometry(index):
    """Returns lie on car surfaces and on the ground plane at z = -1.73."""
    frame = make_frame(SMALL_KITTI, 'training', index)
    points = frame.points
    assert points.dtype == np.float32 and 60_000 < len(points) < 150_000
    assert len(frame.boxes_lidar) > 0
    for box, returns, occluded in zip(frame.boxes_lidar, frame.car_points,
                                      frame.labels.occluded):
        inside = np.count_nonzero(points_in_lidar_box(points, box, margin=0.1))
        # every return of the car is inside its box (range noise is 2 cm)
        assert inside >= returns
        if occluded == 0 and np.hypot(*box[:2]) < 20:  # fully visible, near
            assert returns > 100
    near = np.hypot(points[:, 0], points[:, 1])
    ground = points[(near > 5) & (near < 30) & (np.abs(points[:, 2] + 1.73) < 0.3)]
    assert len(ground) > 0.5 * np.count_nonzero((near > 5) & (near < 30))
    assert np.median(ground[:, 2]) == pytest.approx(-1.73, abs=0.01)


def test_kitti_difficulty_levels_all_occur():
    cfg = KittiSceneConfig(seed=0, lidar=COARSE)
    levels, occluded, names = [], set(), set()
    for index in range(12):
        labels = make_frame(cfg, 'training', index).labels
        names |= set(labels.names)
        for name, bbox, occ, trunc in zip(labels.names, labels.bbox, labels.occluded,
                                          labels.truncated):
            if name == 'Car':
                occluded.add(int(occ))
                levels.append(kitti_difficulty(bbox[3] - bbox[1], occ, trunc))
    assert occluded == {0, 1, 2}
    assert {0, 1, 2} <= set(levels)  # easy, moderate-only and hard-only cars
    assert 'DontCare' in names


def test_kitti_empty_frames(tmp_path):
    cfg = KittiSceneConfig(num_train=2, num_val=1, num_test=1, empty_ratio=1.0, lidar=COARSE)
    root = generate_kitti(tmp_path / 'kitti', cfg, progress=False)
    for path in sorted((root / 'training' / 'label_2').glob('*.txt')):
        assert path.read_text() == '' and len(read_label(path)) == 0
    assert len(read_points(root / 'training' / 'velodyne' / '000000.bin')) > 10_000


def test_kitti_deterministic(tmp_path):
    """Same arguments, same bytes, also when two processes cast."""
    cfg = KittiSceneConfig(num_train=2, num_val=1, num_test=1, seed=7, lidar=COARSE)
    first = tree_digest(generate_kitti(tmp_path / 'a', cfg, progress=False))
    second = tree_digest(generate_kitti(tmp_path / 'b', cfg, progress=False, workers=2))
    assert first == second
    other = tree_digest(generate_kitti(tmp_path / 'c', KittiSceneConfig(
        num_train=2, num_val=1, num_test=1, seed=8, lidar=COARSE), progress=False))
    assert other['training/velodyne/000000.bin'] != first['training/velodyne/000000.bin']


# ----------------------------------------------------------------------------- files
def test_build_atomically_leaves_nothing_on_failure(tmp_path):
    def fill(folder):
        (folder / 'half.txt').write_text('written before the failure')
        raise RuntimeError('generation failed')

    with pytest.raises(RuntimeError, match='generation failed'):
        build_atomically(tmp_path / 'set', fill)
    assert list(tmp_path.iterdir()) == []


def test_build_atomically_protects_existing_folders(tmp_path):
    def fill(folder):
        (folder / MARKER).write_text('{}')

    build_atomically(tmp_path / 'set', fill)
    with pytest.raises(FileExistsError, match='pass overwrite=True'):
        build_atomically(tmp_path / 'set', fill)
    build_atomically(tmp_path / 'set', fill, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['set']
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'precious.txt').write_text('real data')
    with pytest.raises(FileExistsError, match='not a set written by data_converters.synthetic'):
        build_atomically(tmp_path / 'data', fill, overwrite=True)
    assert (tmp_path / 'data' / 'precious.txt').exists()


def test_cli(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'make_synthetic', Path(__file__).resolve().parents[1] / 'tools' / 'make_synthetic.py')
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    argv = ['all', '--out-dir', str(tmp_path), '--num-train', '2', '--num-val', '1',
            '--num-test', '1', '--num-classes', '3', '--azimuth-res', '1.0', '--num-beams',
            '16', '--no-progress']
    cli.main(argv)
    coco = json.loads((tmp_path / 'coco' / 'annotations' / 'instances_val2017.json')
                      .read_text())
    assert len(coco['images']) == 1 and len(coco['categories']) == 3
    assert (tmp_path / 'kitti' / 'ImageSets' / 'val.txt').read_text() == '000002\n'
    recorded = json.loads((tmp_path / 'kitti' / MARKER).read_text())
    assert recorded['config']['lidar']['num_beams'] == 16
    with pytest.raises(SystemExit, match='exists; pass overwrite=True'):
        cli.main(argv)
    cli.main(argv + ['--overwrite'])
