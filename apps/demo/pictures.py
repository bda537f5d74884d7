"""The demo's pictures: a trained detector's boxes on held-out samples.

2D: a few validation images with ground truth (green) and predictions (red-orange,
dashed, with class and score). 3D: validation frames as a bird's-eye view and an open3d
view, both cropped to the returns inside the model's range. The model and the samples
come from the run's own config (:func:`apps.evidence.job.build_config`), so the
pictures show what the test metric scored.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np


def _model_and_dataset(spec: dict, checkpoint, scope: str):
    """The trained model (eval mode) and the test dataset of a demo run."""
    from mmengine.registry import DATASETS, init_default_scope

    from apps.evidence.job import build_config
    from apps.runner.trained_model import build_trained_model

    cfg = build_config(spec)
    model = build_trained_model(cfg, str(checkpoint), scope).eval()
    init_default_scope(cfg.get('default_scope', scope))
    return cfg, model, DATASETS.build(cfg.test_dataloader.dataset)


def _predict(model, dataset, index: int):
    import torch
    from mmengine.dataset import pseudo_collate

    with torch.no_grad():
        return model.test_step(pseudo_collate([dataset[index]]))[0]


def pick_samples(instance_counts: Sequence[int], count: int) -> List[int]:
    """``count`` sample indices, preferring samples with several objects (more to see),
    in data-set order: those with at least two objects first, then the others."""
    busy = [i for i, n in enumerate(instance_counts) if n >= 2]
    rest = [i for i, n in enumerate(instance_counts) if n < 2]
    return sorted((busy + rest)[:count])


def draw_2d(spec: dict, checkpoint, out_dir, count: int = 3,
            score_thr: float = 0.3) -> List[Path]:
    """Draw ``count`` validation images of a 2D demo run with its detections scoring at
    least ``score_thr``; returns the PNG paths (``out_dir/<image id>.png``)."""
    from PIL import Image

    from rankdet.visualization.detections2d import render_detections_2d

    _, model, dataset = _model_and_dataset(spec, checkpoint, 'mmdet')
    classes = list(dataset.metainfo['classes'])
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    written = []
    for index in pick_samples([len(info['instances']) for info in infos], count):
        info = infos[index]
        gt = [inst for inst in info['instances'] if not inst.get('ignore_flag', 0)]
        pred = _predict(model, dataset, index).pred_instances
        keep = pred.scores >= score_thr
        image = np.asarray(Image.open(info['img_path']).convert('RGB'))
        path = Path(out_dir) / f'{info["img_id"]:012d}.png'
        render_detections_2d(
            path, image, [inst['bbox'] for inst in gt], [inst['bbox_label'] for inst in gt],
            pred.bboxes[keep].numpy(), pred.scores[keep].numpy(), pred.labels[keep].numpy(),
            classes, title=f'val image {info["img_id"]}, predictions >= {score_thr}')
        written.append(path)
    return written


def chase_camera(x_range, y_range, ground_z: float):
    """``(look_at, eye, up)`` of an open3d view from behind and above the sensor that
    frames the bird's-eye window ``x_range`` x ``y_range`` (metres, LiDAR frame): the
    eye at 0.75 of the window's size behind its centre and 0.65 above the ground, so
    that a 50 degree field of view holds its whole width."""
    (x0, x1), (y0, y1) = x_range, y_range
    size = max(x1 - x0, y1 - y0)
    look_at = np.array([(x0 + x1) / 2, (y0 + y1) / 2, ground_z])
    eye = look_at + np.array([-0.75 * size, 0.0, 0.65 * size])
    return look_at, eye, np.array([0.0, 0.0, 1.0])


def draw_3d(spec: dict, checkpoint, out_dir, count: int = 2, score_thr: float = 0.3,
            with_3d: bool = True) -> List[Path]:
    """Draw ``count`` validation frames of a 3D demo run with its detections scoring at
    least ``score_thr``: ``out_dir/<frame>_bev.png`` (bird's-eye view) and, with
    ``with_3d``, ``<frame>_3d.png`` (open3d, offscreen); both cropped to the points inside
    the model's range. Returns the PNG paths."""
    from rankdet.visualization import Predictions, render_bev, render_png
    from rankdet.visualization.crop import points_in_range, points_window
    from rankdet.visualization.frames import Frame, frame_box_sets, load_bin_frame

    cfg, model, dataset = _model_and_dataset(spec, checkpoint, 'mmdet3d')
    point_cloud_range = cfg.model.data_preprocessor.voxel_layer.point_cloud_range
    ground = -1.73  # KITTI's LiDAR height above the road
    counts = []
    for i in range(len(dataset)):
        labels = dataset.get_ann_info(i)['gt_labels_3d']
        counts.append(int((np.asarray(labels) >= 0).sum()))
    written = []
    for index in pick_samples(counts, count):
        info = dataset.get_data_info(index)
        scan = load_bin_frame(info['lidar_points']['lidar_path'])
        points = points_in_range(scan.points, point_cloud_range)
        ann = dataset.get_ann_info(index)
        gt = ann['gt_bboxes_3d'].tensor.numpy()[np.asarray(ann['gt_labels_3d']) >= 0]
        pred = _predict(model, dataset, index).pred_instances_3d
        predictions = Predictions(pred.bboxes_3d.tensor.numpy()[:, :7],
                                  pred.scores_3d.numpy(), pred.labels_3d.numpy())
        box_sets = frame_box_sets(Frame(points, gt[:, :7], scan.lidar_path), predictions,
                                  score_thr, pred_name=f'predictions >= {score_thr}')
        x_range, y_range = points_window(points, gt)
        name = scan.lidar_path.stem
        out = Path(out_dir)
        written.append(render_bev(out / f'{name}_bev.png', points, box_sets,
                                  x_range=x_range, y_range=y_range))
        if with_3d:
            written.append(render_png(out / f'{name}_3d.png', points, box_sets,
                                      camera=chase_camera(x_range, y_range, ground)))
    return written
