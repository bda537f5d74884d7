"""The ground-truth database for GT-sampling augmentation (mmdet3d's ``ObjectSample``).

For every labelled object of the train split (DontCare excluded) whose reduced scan
holds points (a frame with an empty scan adds nothing), the points inside its LiDAR box
are saved, moved so that the box's bottom centre is the
origin, as ``{prefix}_gt_database/{sample_idx}_{class}_{k}.bin`` (float32 x, y, z,
intensity; ``k`` counts the frame's labelled objects). ``{prefix}_dbinfos_train.pkl``
maps each class name to a list of records in mmdet3d 1.4's format, which
``DataBaseSampler`` reads::

    name              class name ('Car')
    path              '{prefix}_gt_database/7_Car_0.bin', relative to the data root
    image_idx         sample_idx of the frame (int)
    gt_idx            k, the object's index among the frame's labelled objects
    box3d_lidar       float32[7] LiDAR box (x, y, z, dx, dy, dz, yaw), z at the bottom
    num_points_in_gt  number of points saved
    difficulty        KITTI difficulty (0, 1, 2 or -1)
    group_id          a counter over all objects (every object is its own group)
    score             the label's score (0.0 for ground truth)

``DataBaseSampler`` loads a record's points, translates them by ``box3d_lidar[:3]`` and
pastes them, with the box, into another scan.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rankdet.kitti.box_transform import camera_to_lidar_boxes
from rankdet.kitti.points import read_points
from rankdet.ops.points_in_boxes import points_in_boxes


def create_groundtruth_database(data_list, reduced_dir, out_dir, info_prefix: str,
                                classes, progress: bool = True) -> dict:
    """Write the object point files and the dbinfos pickle for ``data_list``.

    Args:
        data_list: train info entries (:func:`data_converters.kitti_converter.frame_info`).
        reduced_dir: folder of the reduced scans, ``{sample_idx:06d}.bin``.
        out_dir: receives ``{info_prefix}_gt_database/`` and
            ``{info_prefix}_dbinfos_train.pkl``.
        info_prefix: file-name prefix (``kitti``).
        classes: class names by label (``bbox_label_3d``); -1 labels are skipped.

    Returns:
        The db infos: ``{class name: [record, ...]}``.
    """
    out_dir = Path(out_dir)
    database_name = f'{info_prefix}_gt_database'
    (out_dir / database_name).mkdir(parents=True, exist_ok=True)
    db_infos: dict[str, list] = {}
    group_counter = 0
    for info in tqdm(data_list, desc=f'{info_prefix} GT database', disable=not progress):
        instances = [inst for inst in info['instances'] if inst['bbox_label_3d'] != -1]
        if not instances:
            continue
        sample_idx = info['sample_idx']
        points = read_points(Path(reduced_dir) / info['lidar_points']['lidar_path'])
        if len(points) == 0:
            # an empty scan would give one empty file per object, and GT sampling would
            # paste boxes without points; the converter reports such scans
            continue
        lidar2cam = np.array(info['images']['CAM2']['lidar2cam'])
        boxes = camera_to_lidar_boxes([inst['bbox_3d'] for inst in instances],
                                      lidar2cam).astype(np.float32)  # [M, 7]
        inside = points_in_boxes(points[:, :3], boxes)  # [N, M]
        for k, (inst, box) in enumerate(zip(instances, boxes)):
            name = classes[inst['bbox_label_3d']]
            object_points = points[inside[:, k]].copy()
            object_points[:, :3] -= box[:3]
            rel_path = f'{database_name}/{sample_idx}_{name}_{k}.bin'
            object_points.astype(np.float32).tofile(out_dir / rel_path)
            db_infos.setdefault(name, []).append(dict(
                name=name, path=rel_path, image_idx=sample_idx, gt_idx=k,
                box3d_lidar=box, num_points_in_gt=int(len(object_points)),
                difficulty=int(inst['difficulty']), group_id=group_counter,
                score=float(inst['score'])))
            group_counter += 1
    with open(out_dir / f'{info_prefix}_dbinfos_train.pkl', 'wb') as f:
        pickle.dump(db_infos, f, protocol=pickle.HIGHEST_PROTOCOL)
    return db_infos
