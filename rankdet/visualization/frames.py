"""One LiDAR frame to draw: its points, its ground truth and the name it goes by in a
results file (``lidar_path``, ``sample_idx``), so that predictions are always looked up
by that name and never taken from another frame (see :func:`frame_predictions`); and the
box sets a picture of it shows (:func:`frame_box_sets`). ``tools/vis3d.py`` and ``make
demo``'s frame pictures both draw through these."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .predictions import Predictions, load_predictions
from .scene_items import GT_COLOUR, PRED_COLOUR, BoxSet


@dataclass
class Frame:
    """``points float32[N, 4]``; ``gt_boxes float[M, 7]`` LiDAR boxes or None (no labels);
    ``lidar_path``: the scan's path (its file name, and its split folder where there is
    one, identify the frame in a results file); ``sample_idx``: the KITTI frame number
    (``000007`` -> 7) or None."""

    points: np.ndarray
    gt_boxes: np.ndarray | None
    lidar_path: Path
    sample_idx: int | None = None


def load_kitti_frame(root, split: str, index, fov_only: bool = False) -> Frame:
    """Points and ground-truth LiDAR boxes (None without a label file) of KITTI frame
    ``index`` (``'000001'`` or 1) of ``<root>/<split>``; ``fov_only`` keeps the points in
    camera 2's field of view (what mmdet3d's ``velodyne_reduced`` holds)."""
    from rankdet.kitti import camera_to_lidar_boxes, read_calib, read_label, read_points
    from rankdet.kitti.camera_fov import read_image_shape, reduce_to_camera_fov

    folder = Path(root) / split
    name = f'{int(index):06d}' if str(index).isdigit() else str(index)
    lidar_path = folder / 'velodyne' / f'{name}.bin'
    points = read_points(lidar_path)
    calib_path = folder / 'calib' / f'{name}.txt'
    label_path = folder / 'label_2' / f'{name}.txt'
    calib = read_calib(calib_path) if calib_path.is_file() else None
    if fov_only:
        if calib is None:
            raise FileNotFoundError(f'{calib_path}: --fov-only needs the calibration')
        shape = read_image_shape(folder / 'image_2' / f'{name}.png')
        points = reduce_to_camera_fov(points, calib.lidar2img, shape)
    gt_boxes = None
    if label_path.is_file():
        if calib is None:
            raise FileNotFoundError(f'{calib_path}: the labels of frame {name} need its '
                                    f'calibration to reach the LiDAR frame')
        labels = read_label(label_path)
        labels = labels.select([n != 'DontCare' for n in labels.names])
        gt_boxes = camera_to_lidar_boxes(labels.camera_boxes(), calib.lidar2cam)
    return Frame(points, gt_boxes, lidar_path, int(name) if name.isdigit() else None)


def load_bin_frame(path) -> Frame:
    """A bare ``.bin`` scan (float32 x, y, z, intensity): no ground truth, named by its
    path."""
    from rankdet.kitti import read_points

    return Frame(read_points(path), None, Path(path))


def frame_predictions(results, frame: Frame) -> Predictions:
    """The detections of ``frame`` in the results file ``results``, matched by its
    ``lidar_path`` (file name and split) or, for entries without one, its ``sample_idx``,
    however many frames the file holds; a ValueError naming both when the frame is not
    in the file (formats: :mod:`.predictions`)."""
    return load_predictions(results, lidar_name=str(frame.lidar_path),
                            sample_idx=frame.sample_idx)


def frame_box_sets(frame: Frame, predictions: Predictions | None = None,
                   score_thr: float = 0.0, pred_name: str = 'predictions',
                   with_labels: bool = False) -> list:
    """What a picture of ``frame`` shows: its ground truth (green; none without labels)
    and the ``predictions`` scoring at least ``score_thr`` (red-orange, named
    ``pred_name``, with their scores, and their labels with ``with_labels``), as
    :class:`BoxSet` for :func:`render_png`/:func:`render_bev`."""
    box_sets = []
    if frame.gt_boxes is not None:
        box_sets.append(BoxSet(frame.gt_boxes, GT_COLOUR, 'ground truth'))
    if predictions is not None:
        kept = predictions.above(score_thr)
        box_sets.append(BoxSet(kept.boxes, PRED_COLOUR, pred_name, kept.scores,
                               kept.labels if with_labels else None))
    return box_sets
