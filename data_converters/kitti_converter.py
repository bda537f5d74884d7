"""KITTI 3D object folders -> mmdet3d 1.4 info files, reduced scans and GT database.

:func:`kitti_data_prep` is the one entry point (``tools/create_data.py kitti`` calls it).
It writes what mmdet3d 1.4's ``tools/create_data.py kitti`` writes, in the current (v2)
info format directly rather than through ``update_infos_to_v2``:

- ``{prefix}_infos_{train,val,trainval,test}.pkl``: ``dict(metainfo, data_list)``, one
  entry per frame of ``ImageSets/{train,val,test}.txt`` (trainval = train + val);
- ``{training,testing}/velodyne_reduced/*.bin``: the scans cropped to camera 2's field of
  view (:mod:`data_converters.velodyne_reduce`);
- ``{prefix}_gt_database/`` and ``{prefix}_dbinfos_train.pkl``: the points of every
  labelled train object, for GT sampling (:mod:`data_converters.kitti_gt_database`).

One ``data_list`` entry (values are plain Python lists / numbers, as mmdet3d writes)::

    sample_idx      int, the frame number (000007 -> 7)
    images          CAM0..CAM3: cam2img (P0..P3 as 4x4), lidar2img (P @ lidar2cam);
                    CAM2 also img_path, height, width, lidar2cam (R0_rect @ Tr_velo_to_cam);
                    R0_rect (4x4)
    lidar_points    num_pts_feats (4), lidar_path ('000007.bin'), Tr_velo_to_cam,
                    Tr_imu_to_velo (4x4)
    instances       one per label line (DontCare included, with label -1): bbox (2D),
                    bbox_label, bbox_3d (camera frame x, y, z, l, h, w, ry: bottom centre),
                    bbox_label_3d, depth and center_2d (the box's gravity centre projected
                    with P2), num_lidar_pts (in the reduced scan; -1 for DontCare),
                    difficulty (0 easy, 1 moderate, 2 hard, -1 none), truncated,
                    occluded, alpha, score, index, group_id
    cam_instances   {'CAM2': [...]}: the 3D boxes projected into image_2 and clipped to it
                    (mmdet3d's mono3d records), labelled frames only

``metainfo`` is ``{'categories': {'Pedestrian': 0, 'Cyclist': 1, 'Car': 2, 'Van': 3,
'Truck': 4, 'Person_sitting': 5, 'Tram': 6, 'Misc': 7, <other names>: -1}, 'dataset':
'kitti', 'info_version': '1.1'}``, where the other names are those met in the split
(``DontCare``).

Paths inside the infos are file names; mmdet3d's ``KittiDataset`` joins them with its
``data_root`` and ``data_prefix`` (``pts='training/velodyne_reduced'``,
``img='training/image_2'``).
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rankdet.evaluation.kitti_difficulty import MAX_OCCLUSION, MAX_TRUNCATION, MIN_HEIGHT
from rankdet.kitti.box_transform import camera_to_lidar_boxes
from rankdet.kitti.camera_fov import read_image_shape, reduce_to_camera_fov
from rankdet.kitti.calib import KittiCalib, read_calib
from rankdet.kitti.label import KittiLabels, read_label
from rankdet.kitti.points import read_points, write_points
from rankdet.ops.box_corners import camera_box_corners
from rankdet.ops.points_in_boxes import points_in_boxes

from .kitti_gt_database import create_groundtruth_database
from .staged_output import StagedOutput

# mmdet3d 1.4's KITTI categories, in label order (update_infos_to_v2 / KittiDataset).
KITTI_CLASSES = ('Pedestrian', 'Cyclist', 'Car', 'Van', 'Truck', 'Person_sitting',
                 'Tram', 'Misc')

SPLITS = ('train', 'val', 'test')


def read_image_set(path) -> list[int]:
    """Frame numbers listed in an ``ImageSets/*.txt`` file, one per line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: image set file not found (a KITTI root has '
                                f'ImageSets/train.txt, val.txt and test.txt)')
    ids = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        token = line.strip()
        if not token:
            continue
        if not token.isdigit():
            raise ValueError(f'{path}:{lineno}: expected a frame number such as 000123, '
                             f'got {line.strip()!r}')
        ids.append(int(token))
    return ids


def kitti_difficulty(labels: KittiLabels) -> list[int]:
    """KITTI difficulty per object: 0 easy, 1 moderate, 2 hard, -1 none of them (the table:
    :mod:`rankdet.evaluation.kitti_difficulty`)."""
    height = labels.bbox[:, 3] - labels.bbox[:, 1]
    levels = []
    for h, occ, trunc in zip(height, labels.occluded, labels.truncated):
        fits = [occ <= MAX_OCCLUSION[k] and h > MIN_HEIGHT[k]
                and trunc <= MAX_TRUNCATION[k] for k in range(3)]
        # The easiest level an object qualifies for (the devkit's xor of the masks).
        levels.append(next((k for k in range(3) if fits[k]), -1))
    return levels


def project_to_image(points_cam, cam2img) -> tuple[np.ndarray, np.ndarray]:
    """``float[N, 3]`` rectified-camera points -> pixels ``float64[N, 2]`` and the
    projective depth ``float64[N]`` (mmdet3d's ``points_cam2img(..., with_depth=True)``)."""
    points = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
    uvd = np.concatenate([points, np.ones((len(points), 1))], 1) @ \
        np.asarray(cam2img, dtype=np.float64)[:3].T  # [N, 3]
    return uvd[:, :2] / uvd[:, 2:3], uvd[:, 2]


def _clip_projection(corners_cam, cam2img, image_shape):
    """2D box ``[x1, y1, x2, y2]`` of the corners in front of the camera, projected and
    clipped to the image; None when the hull of the projection misses the image."""
    from shapely.geometry import MultiPoint, Polygon, box

    front = corners_cam[corners_cam[:, 2] > 0]
    uv, _ = project_to_image(front, cam2img)
    hull = MultiPoint([tuple(p) for p in uv]).convex_hull
    canvas = box(0, 0, image_shape[1], image_shape[0])
    if not hull.intersects(canvas):
        return None
    clipped = hull.intersection(canvas)
    if not isinstance(clipped, Polygon):
        return None
    return [float(v) for v in clipped.bounds]


def _cam_instances(labels: KittiLabels, cam2img, image_shape) -> list[dict]:
    """mmdet3d's mono3d records for image_2 (``get_kitti_style_2d_boxes``): known
    classes with occlusion 0..3 whose projected 3D box meets the image in front of it."""
    records = []
    boxes = labels.camera_boxes()  # [N, 7] x y z l h w ry, bottom centre
    for k, name in enumerate(labels.names):
        if name not in KITTI_CLASSES or labels.occluded[k] not in (0, 1, 2, 3):
            continue
        box3d = boxes[k].astype(np.float32).astype(np.float64)
        centre = box3d[:3] + np.array([0.0, -box3d[4] / 2, 0.0])  # gravity centre
        bbox = _clip_projection(camera_box_corners(box3d), cam2img, image_shape)
        if bbox is None:
            continue
        uv, depth = project_to_image(centre, cam2img)
        if depth[0] <= 0:
            continue
        label = KITTI_CLASSES.index(name)
        records.append(dict(bbox_label=label, bbox_label_3d=label, bbox=bbox,
                            bbox_3d_isvalid=True, bbox_3d=box3d.tolist(), velocity=-1,
                            center_2d=uv[0].tolist(), depth=float(depth[0])))
    return records


def _instances(labels: KittiLabels, calib: KittiCalib, points) -> list[dict]:
    """One info instance per label line, DontCare included (label -1)."""
    boxes = labels.camera_boxes()  # [N, 7]
    known = np.array([n != 'DontCare' for n in labels.names], dtype=bool)
    num_points = np.full(len(labels), -1, dtype=np.int64)
    if known.any():
        lidar_boxes = camera_to_lidar_boxes(boxes[known], calib.lidar2cam)
        num_points[known] = points_in_boxes(points[:, :3], lidar_boxes).sum(0)
    # gravity centre = bottom centre moved up (camera -y) by half the height
    centres = boxes[:, :3] - np.stack([np.zeros(len(boxes)), boxes[:, 4] / 2,
                                       np.zeros(len(boxes))], 1)
    uv, depth = project_to_image(centres, calib.P2)
    difficulty = kitti_difficulty(labels)
    index = np.cumsum(known) - 1
    instances = []
    for k, name in enumerate(labels.names):
        label = KITTI_CLASSES.index(name) if name in KITTI_CLASSES else -1
        instances.append(dict(
            bbox=labels.bbox[k].tolist(), bbox_label=label, bbox_3d=boxes[k].tolist(),
            bbox_label_3d=label, depth=float(depth[k]), center_2d=uv[k].tolist(),
            num_lidar_pts=int(num_points[k]), difficulty=difficulty[k],
            truncated=float(labels.truncated[k]), occluded=int(labels.occluded[k]),
            alpha=float(labels.alpha[k]),
            score=0.0 if labels.score is None else float(labels.score[k]),
            index=int(index[k]) if known[k] else -1, group_id=k))
    return instances


def frame_info(root, sample_idx: int, training: bool):
    """Read one frame; return its info entry, its reduced scan ``float32[N, 4]``, its
    labels (:class:`KittiLabels`, with the line of each object; none for the testing
    split) and the paths it read (``calib``, ``image``, ``velodyne``, ``label``).

    Errors name the file (and line, for labels and calibrations) that is missing or
    malformed.
    """
    folder = Path(root) / ('training' if training else 'testing')
    name = f'{sample_idx:06d}'
    paths = dict(calib=folder / 'calib' / f'{name}.txt',
                 image=folder / 'image_2' / f'{name}.png',
                 velodyne=folder / 'velodyne' / f'{name}.bin')
    if training:
        paths['label'] = folder / 'label_2' / f'{name}.txt'
    for kind, path in paths.items():
        if not path.is_file():
            raise FileNotFoundError(f'{path}: {kind} file of frame {name} not found')
    calib = read_calib(paths['calib'])
    image_shape = read_image_shape(paths['image'])
    points = reduce_to_camera_fov(read_points(paths['velodyne']), calib.lidar2img,
                                  image_shape)

    # mmdet3d stores the LiDAR -> camera matrices in float32 and the projections in float64
    rect = calib.R0_rect.astype(np.float32)
    velo_to_cam = calib.Tr_velo_to_cam.astype(np.float32)
    lidar2cam = rect @ velo_to_cam
    images = {f'CAM{i}': dict(cam2img=getattr(calib, f'P{i}').tolist(),
                              lidar2img=(getattr(calib, f'P{i}') @ lidar2cam).tolist())
              for i in range(4)}
    images['CAM2'].update(img_path=paths['image'].name, height=image_shape[0],
                          width=image_shape[1], lidar2cam=lidar2cam.tolist())
    images['R0_rect'] = rect.tolist()
    info = dict(
        sample_idx=sample_idx, images=images,
        lidar_points=dict(num_pts_feats=4, lidar_path=paths['velodyne'].name,
                          Tr_velo_to_cam=velo_to_cam.tolist(),
                          Tr_imu_to_velo=calib.Tr_imu_to_velo.astype(np.float32).tolist()),
        instances=[])
    labels = KittiLabels.empty()
    if training:
        labels = read_label(paths['label'])
        info['instances'] = _instances(labels, calib, points)
        info['cam_instances'] = dict(CAM2=_cam_instances(labels, calib.P2, image_shape))
    return info, points, labels, paths


def kitti_metainfo(names) -> dict:
    """mmdet3d's KITTI ``metainfo`` for a split whose label files hold ``names``: the
    eight classes, then -1 for every other name met (``DontCare``)."""
    categories = {name: i for i, name in enumerate(KITTI_CLASSES)}
    for name in sorted(set(names) - set(KITTI_CLASSES)):
        categories[name] = -1
    return dict(categories=categories, dataset='kitti', info_version='1.1')


def _dump_pickle(path: Path, obj) -> None:
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def kitti_data_prep(root_path, info_prefix: str = 'kitti', out_dir=None,
                    with_gt_database: bool = True, progress: bool = True) -> dict:
    """Convert a KITTI 3D object folder for mmdet3d 1.4, as ``create_data.py kitti``.

    Args:
        root_path: KITTI root with ``ImageSets/``, ``training/{calib,image_2,label_2,
            velodyne}`` and ``testing/{calib,image_2,velodyne}``. Only read.
        info_prefix: file-name prefix of the products (``--extra-tag``), ``kitti``.
        out_dir: where the products go; defaults to ``root_path`` (mmdet3d's layout, so
            a config's ``data_root`` is the KITTI root). With another folder, set the
            config's ``data_root`` to it for LiDAR-only training: it holds the reduced
            scans, infos and GT database, but not the images.
        with_gt_database: also write the GT-sampling database from the train split.
        progress: show tqdm progress bars.

    ``ImageSets/train.txt`` and ``val.txt`` are required, ``test.txt`` is optional (a
    root without the testing split gets no test infos). Nothing is left in ``out_dir``
    when a file is missing or malformed: every product is written to a staging folder
    and moved into place at the end.

    Returns:
        ``{product: path}`` of everything written.
    """
    root = Path(root_path)
    out = Path(out_dir) if out_dir is not None else root
    if not root.is_dir():
        raise FileNotFoundError(f'{root}: KITTI root folder not found')
    image_sets = root / 'ImageSets'
    split_ids = {split: read_image_set(image_sets / f'{split}.txt') for split in SPLITS
                 if split != 'test' or (image_sets / 'test.txt').is_file()}

    info_files = {split: f'{info_prefix}_infos_{split}.pkl' for split in
                  ('train', 'val', 'trainval', 'test') if split != 'test' or
                  'test' in split_ids}
    products = dict(info_files, training_reduced='training/velodyne_reduced')
    if 'test' in split_ids:
        products['testing_reduced'] = 'testing/velodyne_reduced'
    if with_gt_database:
        products['gt_database'] = f'{info_prefix}_gt_database'
        products['dbinfos'] = f'{info_prefix}_dbinfos_train.pkl'

    with StagedOutput(out, products.values(), name=f'{info_prefix}_create_data') as stage:
        frames = [(True, i) for i in sorted(set(split_ids['train']) | set(split_ids['val']))]
        frames += [(False, i) for i in split_ids.get('test', [])]
        reduced_dirs = {True: stage.folder('training/velodyne_reduced')}
        if 'test' in split_ids:
            reduced_dirs[False] = stage.folder('testing/velodyne_reduced')
        infos, names = {}, {}
        unknown, empty = [], []  # reported once, after the conversion
        for key in tqdm(frames, desc=f'{info_prefix} infos and reduced scans',
                        disable=not progress):
            training, sample_idx = key
            infos[key], points, labels, paths = frame_info(root, sample_idx, training)
            names[key] = labels.names
            unknown += [(paths['label'], line, name) for name, line in
                        zip(labels.names, labels.line if labels.line is not None else [])
                        if name not in KITTI_CLASSES and name != 'DontCare']
            if len(points) == 0:
                objects = [line for name, line in zip(
                    labels.names, labels.line if labels.line is not None else [])
                    if name != 'DontCare']
                empty.append((paths['velodyne'], paths.get('label'), objects))
            write_points(reduced_dirs[training] / f'{sample_idx:06d}.bin', points)

        keys = {split: [(split != 'test', i) for i in ids] for split, ids in split_ids.items()}
        keys['trainval'] = keys['train'] + keys['val']
        for split, file_name in info_files.items():
            metainfo = kitti_metainfo([n for key in keys[split] for n in names[key]])
            _dump_pickle(stage.path(file_name),
                         dict(metainfo=metainfo, data_list=[infos[k] for k in keys[split]]))

        if with_gt_database:
            create_groundtruth_database(
                [infos[k] for k in keys['train']],
                reduced_dir=reduced_dirs[True],
                out_dir=stage.root, info_prefix=info_prefix, classes=KITTI_CLASSES,
                progress=progress)
        stage.publish()
    report_unknown_classes(unknown)
    report_empty_scans(empty)
    return {key: out / rel for key, rel in products.items()}


class KittiDataWarning(UserWarning):
    """The KITTI folder holds data that the conversion keeps but training cannot use."""


def _lines(numbers) -> str:
    """``[1, 2, 3, 7]`` -> ``'lines 1-3, 7'``."""
    spans, numbers = [], sorted(numbers)
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    text = ', '.join(f'{a}' if a == b else f'{a}-{b}' for a, b in spans)
    return ('line ' if len(numbers) == 1 else 'lines ') + text


def report_unknown_classes(unknown) -> None:
    """One warning naming each object (``(label file, line, name)``) whose class is
    neither a KITTI class nor DontCare: it is kept with label -1, so it is never
    trained on or evaluated."""
    if not unknown:
        return
    listed = '\n'.join(f'  {path}:{line}: {name!r}' for path, line, name in unknown)
    warnings.warn(
        f'{len(unknown)} object(s) of a class that KITTI does not have '
        f'({", ".join(KITTI_CLASSES)} or DontCare) are kept in the infos with label -1, '
        f'so they are neither trained on nor evaluated; correct the class names:\n'
        f'{listed}', KittiDataWarning, stacklevel=3)


def report_empty_scans(empty) -> None:
    """One warning naming each scan (``(velodyne path, label path, object lines)``) with
    no point in camera 2's field of view: its objects get ``num_lidar_pts`` 0 and no
    GT-database files, and its reduced scan is empty, which the dataset check before
    training reports (``check_files``)."""
    if not empty:
        return
    rows = []
    for scan, label, objects in empty:
        size = scan.stat().st_size
        what = 'empty (0 bytes)' if size == 0 else f'no point in the camera view ({size} bytes)'
        row = f'  {scan}: {what}'
        if objects:
            row += f'; {len(objects)} object(s) get 0 points: {label} {_lines(objects)}'
        rows.append(row)
    warnings.warn(
        f'{len(empty)} scan(s) have no point in the camera view: their objects get '
        f'num_lidar_pts 0 and no GT-database files, and training stops at the dataset '
        f'check until they are replaced:\n' + '\n'.join(rows), KittiDataWarning,
        stacklevel=3)
