"""Read one frame's 3D detections from a results file, for drawing.

Two formats are read:

1. mmdet3d's test output (``tools/test.py CONFIG CKPT --out results.pkl``): a pickle of a
   list with one dict per frame, each holding ``pred_instances_3d`` with ``bboxes_3d``
   (``LiDARInstance3DBoxes``, a tensor or an array, ``[N, 7+]``), ``scores_3d`` ``[N]``
   and ``labels_3d`` ``[N]``, plus the frame's ``lidar_path`` and ``sample_idx``.
   Unpickling ``LiDARInstance3DBoxes`` needs mmdet3d installed.
2. JSON, one frame::

       {"bboxes_3d": [[x, y, z, dx, dy, dz, yaw], ...],
        "scores_3d": [0.93, ...], "labels_3d": [0, ...]}

   or a list of such objects, each also with ``"lidar_path"`` (or ``"sample_idx"``).
   A pickle may hold the same dicts. ``labels_3d`` may be left out.

Boxes are LiDAR boxes with z at the bottom face (mmdet3d's convention for KITTI). A file
with several frames is searched by the file name of ``lidar_path`` (``000001.bin``);
entries without ``lidar_path`` are matched by ``sample_idx``, the frame number. (mmdet3d
writes the frame's position in the dataset as ``sample_idx``, which is why its
``lidar_path`` is tried first.)
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Predictions:
    """One frame's detections: ``boxes float64[N, 7]``, ``scores float64[N]``,
    ``labels int64[N]`` (-1 where the file gives none)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def above(self, score_thr: float) -> Predictions:
        """The detections scoring at least ``score_thr``."""
        keep = self.scores >= score_thr
        return Predictions(self.boxes[keep], self.scores[keep], self.labels[keep])


def _as_array(value, what: str, source) -> np.ndarray:
    if hasattr(value, 'tensor'):  # mmdet3d BaseInstance3DBoxes
        value = value.tensor
    if hasattr(value, 'detach'):  # torch.Tensor
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f'{source}: {what} must be numbers, got {type(value).__name__}') \
            from None


def _frame_predictions(entry: dict, source) -> Predictions:
    preds = entry.get('pred_instances_3d', entry)
    if not isinstance(preds, dict) or 'bboxes_3d' not in preds or 'scores_3d' not in preds:
        raise ValueError(f"{source}: expected a frame with 'bboxes_3d' and 'scores_3d' "
                         f"(at top level or under 'pred_instances_3d'), got keys "
                         f"{sorted(preds) if isinstance(preds, dict) else type(preds)}")
    boxes = _as_array(preds['bboxes_3d'], 'bboxes_3d', source)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 7)
    if boxes.ndim != 2 or boxes.shape[1] < 7:
        raise ValueError(f'{source}: bboxes_3d must have shape [N, 7] (x, y, z, dx, dy, dz, '
                         f'yaw), got {boxes.shape}')
    scores = _as_array(preds['scores_3d'], 'scores_3d', source).reshape(-1)
    labels = preds.get('labels_3d')
    labels = (np.full(len(boxes), -1) if labels is None
              else _as_array(labels, 'labels_3d', source).reshape(-1))
    if not len(scores) == len(labels) == len(boxes):
        raise ValueError(f'{source}: {len(boxes)} boxes, {len(scores)} scores and '
                         f'{len(labels)} labels; they must match')
    return Predictions(boxes[:, :7], scores, labels.astype(np.int64))


def load_predictions(path, lidar_name: str | None = None,
                     sample_idx: int | None = None) -> Predictions:
    """The detections of one frame in the results file ``path`` (formats: module doc).

    Args:
        path: ``.pkl`` (mmdet3d test output, or the json layout pickled) or ``.json``.
        lidar_name: file name of the frame's scan (``000001.bin``) to pick it out of a
            file with several frames.
        sample_idx: the frame number, used for entries without ``lidar_path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: results file not found')
    if path.suffix == '.json':
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}:{err.lineno}: not valid JSON ({err.msg})') from None
    else:
        with open(path, 'rb') as f:
            data = pickle.load(f)
    entries = data if isinstance(data, list) else [data]
    if not entries or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f'{path}: expected a dict or a list of dicts (one per frame)')
    if len(entries) == 1:
        return _frame_predictions(entries[0], path)

    def matches(entry):
        if entry.get('lidar_path') is not None:
            return lidar_name is not None and Path(entry['lidar_path']).name == lidar_name
        return sample_idx is not None and entry.get('sample_idx') == sample_idx

    found = [e for e in entries if matches(e)]
    if len(found) != 1:
        known = [Path(e['lidar_path']).name if e.get('lidar_path') else e.get('sample_idx')
                 for e in entries[:10]]
        raise ValueError(f'{path}: {len(found)} of its {len(entries)} frames match '
                         f'lidar_path {lidar_name!r} / sample_idx {sample_idx!r}; it holds '
                         f'{known}{" ..." if len(entries) > 10 else ""}')
    return _frame_predictions(found[0], path)
