"""tools/create_data.py kitti on the real KITTI sample: mmdet3d 1.4 reads what it writes.

Checks: the info files against mmdet3d 1.4's own converter; mmdet3d's KittiDataset with
its standard LiDAR train pipeline (GT sampling included) on them; boxes against label_2
through the calibration, done by hand; the np.long fix; clear errors for bad files and
an untouched output folder after them.
"""
import importlib
import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from data_converters.kitti_converter import KITTI_CLASSES, kitti_data_prep
from rankdet.compat.numpy_long import restore_numpy_long

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ['Pedestrian', 'Cyclist', 'Car']  # mmdet3d's kitti-3d-3class
SPLITS = {'train': [0, 3], 'val': [1, 2, 4, 5], 'trainval': [0, 3, 1, 2, 4, 5],
          'test': [0, 1, 2, 3, 4, 5]}  # ../shared/data/kitti_sample/ImageSets


@pytest.fixture(scope='module')
def converted(kitti_sample_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('kitti_out')
    kitti_data_prep(kitti_sample_root, out_dir=out, progress=False)
    return out


def load(path):
    with open(path, 'rb') as f:
        return pickle.load(f)


def test_writes_every_product_and_nothing_else(converted):
    assert sorted(p.name for p in converted.iterdir()) == sorted(
        ['kitti_dbinfos_train.pkl', 'kitti_gt_database', 'kitti_infos_test.pkl',
         'kitti_infos_train.pkl', 'kitti_infos_trainval.pkl', 'kitti_infos_val.pkl',
         'testing', 'training'])
    for split in ('training', 'testing'):
        names = sorted(p.name for p in (converted / split / 'velodyne_reduced').iterdir())
        assert names == [f'00000{i}.bin' for i in range(6)]
    assert sorted(p.name for p in (converted / 'kitti_gt_database').iterdir()) == [
        '0_Pedestrian_0.bin', '3_Car_0.bin']


def test_info_files_list_the_image_sets_in_mmdet3d_layout(converted):
    for split, frames in SPLITS.items():
        infos = load(converted / f'kitti_infos_{split}.pkl')
        assert set(infos) == {'metainfo', 'data_list'}
        categories = {name: i for i, name in enumerate(KITTI_CLASSES)}
        if split != 'test':
            categories['DontCare'] = -1
        assert infos['metainfo'] == dict(categories=categories, dataset='kitti',
                                         info_version='1.1')
        assert list(infos['metainfo']['categories'])[:3] == CLASSES
        assert [info['sample_idx'] for info in infos['data_list']] == frames
        for info in infos['data_list']:
            assert set(info['images']) == {'CAM0', 'CAM1', 'CAM2', 'CAM3', 'R0_rect'}
            assert info['images']['CAM2']['img_path'] == f"{info['sample_idx']:06d}.png"
            assert info['lidar_points']['lidar_path'] == f"{info['sample_idx']:06d}.bin"
            assert info['lidar_points']['num_pts_feats'] == 4
            if split == 'test':
                assert info['instances'] == [] and 'cam_instances' not in info


def test_infos_match_mmdet3d_own_converter(kitti_sample_root, converted, tmp_path,
                                           monkeypatch, mmdet3d_registry):
    """mmdet3d 1.4's tools/create_data.py steps (shipped in its wheel under .mim) on a
    copy of the sample give the same infos, reduced scans and database points."""
    mmdet3d = pytest.importorskip('mmdet3d')
    mim = Path(mmdet3d.__file__).parent / '.mim'
    if not (mim / 'tools' / 'dataset_converters' / 'kitti_converter.py').is_file():
        pytest.skip(f'mmdet3d tools not found under {mim}')
    monkeypatch.syspath_prepend(str(mim))
    for name in [m for m in sys.modules if m == 'tools' or m.startswith('tools.')]:
        monkeypatch.delitem(sys.modules, name)
    kitti = importlib.import_module('tools.dataset_converters.kitti_converter')
    update = importlib.import_module('tools.dataset_converters.update_infos_to_v2')
    gt_database = importlib.import_module('tools.dataset_converters.create_gt_database')

    ref = tmp_path / 'kitti'  # their converter writes into the root: link the files
    for path in kitti_sample_root.rglob('*'):
        if path.is_file():
            (ref / path.relative_to(kitti_sample_root)).parent.mkdir(parents=True,
                                                                     exist_ok=True)
            (ref / path.relative_to(kitti_sample_root)).symlink_to(path)
    v1 = tmp_path / 'v1'
    v1.mkdir()
    kitti.create_kitti_info_file(str(ref), 'kitti', save_path=str(v1))
    kitti.create_reduced_point_cloud(str(ref), 'kitti', *(
        str(v1 / f'kitti_infos_{s}.pkl') for s in ('train', 'val', 'test')))
    for split in SPLITS:
        update.update_pkl_infos('kitti', out_dir=str(ref),
                                pkl_path=str(v1 / f'kitti_infos_{split}.pkl'))
    gt_database.create_groundtruth_database('KittiDataset', str(ref), 'kitti',
                                            'kitti_infos_train.pkl', relative_path=False)

    for split in SPLITS:
        assert_same(load(converted / f'kitti_infos_{split}.pkl'),
                    load(ref / f'kitti_infos_{split}.pkl'), split)
    for folder in ('training', 'testing'):
        for theirs in sorted((ref / folder / 'velodyne_reduced').iterdir()):
            ours = converted / folder / 'velodyne_reduced' / theirs.name
            assert ours.read_bytes() == theirs.read_bytes(), theirs.name
    ours, theirs = load(converted / 'kitti_dbinfos_train.pkl'), load(
        ref / 'kitti_dbinfos_train.pkl')
    assert sorted(ours) == sorted(theirs) == ['Car', 'Pedestrian']
    for name in ours:
        for a, b in zip(ours[name], theirs[name], strict=True):
            # mmdet3d names files by the frame's position in the train list (mmengine
            # overwrites sample_idx); rankdet uses the frame number
            assert_same({k: v for k, v in a.items() if k not in ('path', 'image_idx')},
                        {k: v for k, v in b.items() if k not in ('path', 'image_idx')}, name)
            np.testing.assert_allclose(np.fromfile(converted / a['path'], np.float32),
                                       np.fromfile(ref / b['path'], np.float32), atol=1e-5)


def assert_same(ours, theirs, where):
    """Equal structure and keys; numbers equal to float32 precision (mmdet3d computes
    the projected 2D boxes in float32)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), (where, set(ours) ^ set(
            theirs))
        for key in theirs:
            assert_same(ours[key], theirs[key], f'{where}.{key}')
    elif isinstance(theirs, (list, tuple, np.ndarray)) and np.ndim(theirs) > 0:
        assert len(ours) == len(theirs), where
        for k, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f'{where}[{k}]')
    elif isinstance(theirs, (str, bool, type(None))):
        assert ours == theirs, where
    else:
        assert isinstance(ours, (int, float, np.number)), where
        assert ours == pytest.approx(float(theirs), rel=1e-5, abs=1e-4), where


def read_plain(path):
    """Whitespace-split lines of a text file."""
    return [line.split() for line in Path(path).read_text().splitlines() if line.strip()]


def plain_calib(path):
    """{key: 4x4 matrix} from a calib file, parsed by hand."""
    out = {}
    for row in read_plain(path):
        values = np.array(row[1:], dtype=float)
        matrix = np.eye(4)
        if len(values) == 12:
            matrix[:3, :4] = values.reshape(3, 4)
        else:
            matrix[:3, :3] = values.reshape(3, 3)
        out[row[0].rstrip(':')] = matrix
    return out


@pytest.fixture(scope='module')
def mmdet3d_registry():
    pytest.importorskip('mmdet3d')
    from mmdet3d.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    restore_numpy_long()  # what `import rankdet` does; tested on its own below


def db_sampler_cfg(data_root):
    # mmdet3d configs/_base_/datasets/kitti-3d-3class.py, less Cyclist: the two train
    # frames hold none, and DataBaseSampler needs every class it filters or samples
    return dict(
        data_root=f'{data_root}/', info_path=f'{data_root}/kitti_dbinfos_train.pkl',
        rate=1.0, prepare=dict(filter_by_difficulty=[-1], filter_by_min_points=dict(
            Car=5, Pedestrian=10)),
        classes=CLASSES, sample_groups=dict(Car=12, Pedestrian=6),
        points_loader=dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4,
                           use_dim=4))


def standard_train_pipeline(data_root):
    # mmdet3d configs/_base_/datasets/kitti-3d-3class.py, train_pipeline, less
    # ObjectNoise: it reads no info field, and numba takes ~40 s on 2 cores to compile it
    return [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        dict(type='ObjectSample', db_sampler=db_sampler_cfg(data_root)),
        dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
        dict(type='GlobalRotScaleTrans', rot_range=[-0.78539816, 0.78539816],
             scale_ratio_range=[0.95, 1.05]),
        dict(type='PointsRangeFilter', point_cloud_range=[0, -40, -3, 70.4, 40, 1]),
        dict(type='ObjectRangeFilter', point_cloud_range=[0, -40, -3, 70.4, 40, 1]),
        dict(type='PointShuffle'),
        dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d']),
    ]


def kitti_dataset(data_root, split, pipeline, test_mode=False):
    from mmdet3d.registry import DATASETS
    return DATASETS.build(dict(
        type='KittiDataset', data_root=str(data_root), ann_file=f'kitti_infos_{split}.pkl',
        data_prefix=dict(pts='training/velodyne_reduced'), pipeline=pipeline,
        modality=dict(use_lidar=True, use_camera=False), test_mode=test_mode,
        metainfo=dict(classes=CLASSES), box_type_3d='LiDAR'))


def test_kitti_dataset_trains_on_the_infos_with_gt_sampling(converted, mmdet3d_registry):
    np.random.seed(0)
    dataset = kitti_dataset(converted, 'train', standard_train_pipeline(converted))
    assert len(dataset) == 2
    for index in range(2):
        packed = dataset.pipeline(dataset.get_data_info(index))
        points = packed['inputs']['points']
        labels = packed['data_samples'].gt_instances_3d.labels_3d.tolist()
        assert points.shape[1] == 4 and len(points) > 10000
        # each frame keeps its own object and gets the other frame's from the database
        # (000000: a pedestrian, 000003: a car)
        assert sorted(labels) == [0, 2]
    val = kitti_dataset(converted, 'val', [dict(type='LoadPointsFromFile',
                                                coord_type='LIDAR', load_dim=4, use_dim=4)],
                        test_mode=True)
    assert len(val) == 4 and len(val[0]['points']) == 18630


def test_boxes_match_label_2_through_the_calibration(kitti_sample_root, converted,
                                                     mmdet3d_registry):
    """mmdet3d's LiDAR boxes from our infos, checked against label_2 and calib by hand:
    the bottom centre maps back to the label's location, sizes and yaw follow mmdet3d's
    convention, the projected box covers the label's 2D box and holds LiDAR points."""
    dataset = kitti_dataset(converted, 'trainval', [], test_mode=False)
    checked = 0
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        name = Path(info['lidar_points']['lidar_path']).stem
        rows = [r for r in read_plain(kitti_sample_root / 'training' / 'label_2' /
                                      f'{name}.txt') if r[0] in CLASSES]
        calib = plain_calib(kitti_sample_root / 'training' / 'calib' / f'{name}.txt')
        lidar2cam = calib['R0_rect'] @ calib['Tr_velo_to_cam']
        boxes = info['ann_info']['gt_bboxes_3d'].tensor.numpy().astype(float)
        assert len(boxes) == len(rows)
        for box, row in zip(boxes, rows):
            h, w, l, x, y, z, ry = map(float, row[8:15])
            bottom = lidar2cam @ np.append(box[:3], 1.0)
            np.testing.assert_allclose(bottom[:3], [x, y, z], atol=2e-3)
            np.testing.assert_allclose(box[3:6], [l, w, h], atol=1e-5)
            yaw = -ry - np.pi / 2
            assert np.cos(box[6] - yaw) == pytest.approx(1.0, abs=1e-6)
            # project the 8 corners with P2: they span the label's 2D box
            c, s = np.cos(box[6]), np.sin(box[6])
            corners = [[box[0] + c * a - s * b, box[1] + s * a + c * b, box[2] + up, 1.0]
                       for a in (-l / 2, l / 2) for b in (-w / 2, w / 2) for up in (0, h)]
            uvd = np.array(corners) @ (calib['P2'] @ lidar2cam).T
            uv = uvd[:, :2] / uvd[:, 2:3]
            x1, y1, x2, y2 = map(float, row[4:8])
            inter = max(0, min(x2, uv[:, 0].max()) - max(x1, uv[:, 0].min())) * max(
                0, min(y2, uv[:, 1].max()) - max(y1, uv[:, 1].min()))
            union = (x2 - x1) * (y2 - y1) + np.ptp(uv[:, 0]) * np.ptp(uv[:, 1]) - inter
            assert inter / union > 0.7, (name, row[0])
            checked += 1
        num_points = [inst['num_lidar_pts'] for inst in load(
            converted / 'kitti_infos_trainval.pkl')['data_list'][index]['instances']
            if inst['bbox_label'] != -1]
        assert all(n > 0 for n in num_points), name
    assert checked == 8  # 5 cars, 2 pedestrians, 1 cyclist (Truck, Misc: not in CLASSES)


def test_gt_sampling_needs_numpy_long_and_the_fix_provides_it(
        converted, mmdet3d_registry, monkeypatch):
    """mmdet3d 1.4's DataBaseSampler.sample_all uses np.long, gone from numpy 1.26."""
    from mmdet3d.datasets.transforms.dbsampler import DataBaseSampler
    sampler = DataBaseSampler(**db_sampler_cfg(converted))
    no_boxes, no_labels = np.zeros((0, 7), np.float32), np.zeros(0, np.int64)
    monkeypatch.delattr(np, 'long', raising=False)
    with pytest.raises(AttributeError, match="no attribute 'long'"):
        sampler.sample_all(no_boxes, no_labels)
    assert restore_numpy_long() is True
    assert restore_numpy_long() is False  # idempotent
    sampled = sampler.sample_all(no_boxes, no_labels)
    db = load(converted / 'kitti_dbinfos_train.pkl')
    assert sampled['gt_labels_3d'].dtype == np.int64
    assert sorted(sampled['gt_labels_3d'].tolist()) == [0, 2]
    assert len(sampled['points']) == sum(e['num_points_in_gt'] for v in db.values()
                                         for e in v) == 377 + 674


def test_object_sample_pastes_the_database_points(converted, mmdet3d_registry):
    """Frame 000000 (a pedestrian) gets the car of frame 000003 with exactly its points."""
    np.random.seed(0)
    pipeline = standard_train_pipeline(converted)[:3]  # load, annotations, ObjectSample
    dataset = kitti_dataset(converted, 'train', pipeline)
    result = dataset.pipeline(dataset.get_data_info(0))
    assert result['gt_labels_3d'].tolist() == [0, 2]
    car = load(converted / 'kitti_dbinfos_train.pkl')['Car'][0]
    box = result['gt_bboxes_3d'].tensor[1].numpy().astype(float)
    np.testing.assert_allclose(box, car['box3d_lidar'], atol=1e-6)
    points = result['points'].tensor.numpy()
    # inside the box: rotate each offset from the bottom centre by -yaw
    offset = points[:, :3] - box[:3]
    c, s = np.cos(box[6]), np.sin(box[6])
    along, across = offset[:, 0] * c + offset[:, 1] * s, -offset[:, 0] * s + offset[:, 1] * c
    inside = ((np.abs(along) < box[3] / 2) & (np.abs(across) < box[4] / 2)
              & (offset[:, 2] > 0) & (offset[:, 2] < box[5]))
    pasted = points[inside]
    expected = np.fromfile(converted / car['path'], np.float32).reshape(-1, 4)
    expected[:, :3] += car['box3d_lidar'][:3]
    assert len(pasted) == car['num_points_in_gt'] == 674
    np.testing.assert_allclose(np.sort(pasted, 0), np.sort(expected, 0), atol=1e-5)


def test_converts_in_place_again_and_without_a_test_split(kitti_sample_root, tmp_path):
    """The default out_dir is the root (mmdet3d's layout); a second run replaces the
    products; a root without ImageSets/test.txt gets no test products."""
    root = link_root(kitti_sample_root, tmp_path / 'kitti', drop='ImageSets/test.txt')
    before = sorted(p.name for p in root.iterdir())
    for _ in range(2):
        written = kitti_data_prep(root, progress=False)
    assert sorted(written) == ['dbinfos', 'gt_database', 'train', 'training_reduced',
                               'trainval', 'val']
    assert sorted(p.name for p in root.iterdir()) == sorted(before + [
        'kitti_dbinfos_train.pkl', 'kitti_gt_database', 'kitti_infos_train.pkl',
        'kitti_infos_trainval.pkl', 'kitti_infos_val.pkl'])
    assert sorted(p.name for p in (root / 'training').iterdir()) == [
        'calib', 'image_2', 'label_2', 'velodyne', 'velodyne_reduced']
    assert not (root / 'testing' / 'velodyne_reduced').exists()
    assert len(list((root / 'training' / 'velodyne_reduced').iterdir())) == 6


# ---- bad input: clear errors, nothing written ----

def link_root(src, dst, edit=None, drop=None):
    """A KITTI root of symlinks to ``src``; ``edit``: {relative path: text -> text} files
    are written edited instead, ``drop`` is left out."""
    for path in src.rglob('*'):
        if not path.is_file():
            continue
        rel = str(path.relative_to(src))
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel == drop:
            continue
        if edit and rel in edit:
            target.write_bytes(edit[rel](path.read_bytes()))
        else:
            target.symlink_to(path)
    return dst


def replace_line(number, text):
    def edit(data):
        lines = data.decode().splitlines()
        lines[number - 1] = text
        return ('\n'.join(lines) + '\n').encode()
    return edit


BAD_INPUTS = {
    'label with too few fields': (
        dict(edit={'training/label_2/000001.txt': replace_line(2, 'Car 0.00 0 1.85 387.63')}),
        ValueError, r'training/label_2/000001.txt:2: expected 15 fields'),
    'label with a word for a number': (
        dict(edit={'training/label_2/000004.txt': replace_line(
            1, 'Car 0.00 0 1.96 280.38 185.10 344.90 215.59 1.49 wide 4.01 -15.71 2.16 '
               '38.26 1.57')}),
        ValueError, r"training/label_2/000004.txt:1: field 'w' must be a number"),
    'missing label': (
        dict(drop='training/label_2/000003.txt'),
        FileNotFoundError, r'training/label_2/000003.txt: label file of frame 000003'),
    'calib with 11 numbers for P2': (
        dict(edit={'training/calib/000002.txt': replace_line(
            3, 'P2: ' + ' '.join(['1.0'] * 11))}),
        ValueError, r'training/calib/000002.txt:3: P2 needs 12 numbers'),
    'missing calib': (
        dict(drop='training/calib/000005.txt'),
        FileNotFoundError, r'training/calib/000005.txt: calib file of frame 000005'),
    'truncated scan': (
        dict(edit={'training/velodyne/000000.bin': lambda data: data[:-6]}),
        ValueError, r'training/velodyne/000000.bin: .* not a whole number of points'),
    'missing test scan (the last frame read)': (
        dict(drop='testing/velodyne/000005.bin'),
        FileNotFoundError, r'testing/velodyne/000005.bin: velodyne file of frame 000005'),
    'image set with a word': (
        dict(edit={'ImageSets/val.txt': replace_line(2, 'frame2')}),
        ValueError, r"ImageSets/val.txt:2: expected a frame number such as 000123, "
                    r"got 'frame2'"),
}


@pytest.mark.parametrize('case', list(BAD_INPUTS))
def test_bad_input_names_the_file_and_leaves_no_output(kitti_sample_root, tmp_path, case):
    change, error, message = BAD_INPUTS[case]
    root = link_root(kitti_sample_root, tmp_path / 'kitti', **change)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'kitti_infos_train.pkl').write_bytes(b'from an earlier run')
    with pytest.raises(error, match=message):
        kitti_data_prep(root, out_dir=out, progress=False)
    # the earlier product is untouched and nothing was added, not even a temporary
    assert [p.name for p in out.iterdir()] == ['kitti_infos_train.pkl']
    assert (out / 'kitti_infos_train.pkl').read_bytes() == b'from an earlier run'
    with pytest.raises(error, match=message):
        kitti_data_prep(root, out_dir=tmp_path / 'new' / 'out', progress=False)
    assert not (tmp_path / 'new' / 'out').exists()


def test_create_data_tool_reports_the_bad_line(kitti_sample_root, tmp_path):
    spec = importlib.util.spec_from_file_location('create_data_tool',
                                                  ROOT / 'tools' / 'create_data.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    change, _, message = BAD_INPUTS['label with too few fields']
    root = link_root(kitti_sample_root, tmp_path / 'kitti', **change)
    with pytest.raises(SystemExit, match='create_data.py: error: .*' + message):
        tool.main(['kitti', '--root-path', str(root), '--out-dir', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


# ---- data that converts but cannot train: counted and reported once ----

def fifteen_cars(data):
    car = 'Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 {x:.2f} 1.75 13.22 1.62'
    return ''.join(car.format(x=-7.0 + k) + '\n' for k in range(15)).encode()


def test_empty_scan_is_reported_and_writes_no_empty_database_files(kitti_sample_root,
                                                                   tmp_path):
    """A 0-byte scan whose 15 labelled cars get 0 points: one warning names the scan and
    the 15 label lines, and the GT database gets no (empty) files for them."""
    from data_converters.kitti_converter import KittiDataWarning
    root = link_root(kitti_sample_root, tmp_path / 'kitti', edit={
        'training/velodyne/000000.bin': lambda data: b'',
        'training/label_2/000000.txt': fifteen_cars})
    out = tmp_path / 'out'
    with pytest.warns(KittiDataWarning) as caught:
        kitti_data_prep(root, out_dir=out, progress=False)
    messages = [str(w.message) for w in caught if w.category is KittiDataWarning]
    assert len(messages) == 1, messages
    assert '1 scan(s) have no point' in messages[0]
    assert (f"{root / 'training/velodyne/000000.bin'}: empty (0 bytes); 15 object(s) get 0 "
            f"points: {root / 'training/label_2/000000.txt'} lines 1-15") in messages[0]
    assert sorted(p.name for p in (out / 'kitti_gt_database').iterdir()) == ['3_Car_0.bin']
    db = load(out / 'kitti_dbinfos_train.pkl')
    assert [e['image_idx'] for v in db.values() for e in v] == [3]
    frame0 = load(out / 'kitti_infos_train.pkl')['data_list'][0]
    assert [i['num_lidar_pts'] for i in frame0['instances']] == [0] * 15
    assert (out / 'training' / 'velodyne_reduced' / '000000.bin').stat().st_size == 0


def test_unknown_classes_are_reported_once_with_file_and_line(kitti_sample_root, tmp_path):
    from data_converters.kitti_converter import KittiDataWarning
    root = link_root(kitti_sample_root, tmp_path / 'kitti', edit={
        'training/label_2/000001.txt': lambda d: d.replace(b'Cyclist', b'Bicycle'),
        'training/label_2/000004.txt': lambda d: d.replace(b'Car 0.00 0 1.88', b'car 0.00 0 1.88')})
    with pytest.warns(KittiDataWarning) as caught:
        kitti_data_prep(root, out_dir=tmp_path / 'out', with_gt_database=False,
                        progress=False)
    messages = [str(w.message) for w in caught if w.category is KittiDataWarning]
    assert len(messages) == 1, messages
    assert messages[0].startswith('2 object(s) of a class that KITTI does not have')
    assert f"{root / 'training/label_2/000001.txt'}:3: 'Bicycle'" in messages[0]
    assert f"{root / 'training/label_2/000004.txt'}:2: 'car'" in messages[0]
    infos = load(tmp_path / 'out' / 'kitti_infos_trainval.pkl')
    assert infos['metainfo']['categories']['Bicycle'] == -1


def test_the_sample_converts_without_warnings(kitti_sample_root, tmp_path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        kitti_data_prep(kitti_sample_root, out_dir=tmp_path / 'out', with_gt_database=False,
                        progress=False)


# ---- staging folders of killed runs ----

STAGER = '''
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location('staged_output', sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with module.StagedOutput(sys.argv[2], ['kitti_gt_database'], name='kitti_create_data') as s:
    (s.folder('kitti_gt_database') / 'big.bin').write_bytes(bytes(100000))
    print(s.root, flush=True)
    time.sleep(120)
'''


def start_stager(out):
    """A process inside StagedOutput (as create_data is while it converts); returns the
    process and its staging folder."""
    import subprocess
    proc = subprocess.Popen([sys.executable, '-c', STAGER,
                             str(ROOT / 'data_converters' / 'staged_output.py'), str(out)],
                            stdout=subprocess.PIPE, text=True)
    return proc, Path(proc.stdout.readline().strip())


def test_next_run_removes_the_staging_folder_of_a_killed_run_only(kitti_sample_root,
                                                                  tmp_path):
    """SIGKILL leaves the hidden staging folder; the next run removes it, but never the
    staging folder of a run that is still going, nor one made on another machine."""
    import json
    import signal
    out = tmp_path / 'out'
    killed, killed_stage = start_stager(out)
    live, live_stage = start_stager(out)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert killed_stage.is_dir() and killed_stage.name.startswith(
            f'.kitti_create_data.{killed.pid}.')
        # a swap folder of an interrupted publish by the killed process
        old = out / f'.kitti_gt_database.{killed.pid}.0123abcd.old'
        old.mkdir()
        # a dead pid here, but the folder belongs to another machine's run
        remote = out / f'.kitti_create_data.{killed.pid}.89abcdef.tmp'
        remote.mkdir()
        (remote / 'owner.json').write_text(json.dumps(dict(host='another-machine', pid=1)))

        kitti_data_prep(kitti_sample_root, out_dir=out, progress=False)
        assert not killed_stage.exists() and not old.exists()
        assert live_stage.is_dir() and (live_stage / 'kitti_gt_database' / 'big.bin').is_file()
        assert remote.is_dir()
        assert live.poll() is None
    finally:
        live.kill()
        live.wait()
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith('.'))
    assert hidden == sorted([live_stage.name, remote.name])


def test_staging_folders_from_before_a_restart_are_stale(tmp_path):
    """This process runs, but the folder with its pid was made before the machine last
    started (another boot id): it is stale; with this boot's id it is kept."""
    import json
    import os
    from data_converters.staged_output import _boot_id, remove_stale
    if _boot_id() is None:
        pytest.skip('no /proc/sys/kernel/random/boot_id on this system')
    import socket
    folders = {}
    for boot in ('before-the-restart', _boot_id()):
        folder = tmp_path / f'.kitti_create_data.{os.getpid()}.{len(folders):08x}.tmp'
        folder.mkdir()
        (folder / 'owner.json').write_text(json.dumps(dict(
            host=socket.gethostname(), boot_id=boot, pid=os.getpid())))
        folders[boot] = folder
    assert remove_stale(tmp_path, 'kitti_create_data') == [folders['before-the-restart']]
    assert folders[_boot_id()].is_dir()
