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

Boxes are LiDAR boxes with z at the bottom face (mmdet3d's convention for KITTI). The
frame is always looked up, whether the file holds one frame or many: by the file name of
``lidar_path`` (``000001.bin``, and its split folder, ``training``/``testing``, where both
paths name one); entries without ``lidar_path`` by ``sample_idx``, the frame number.
(mmdet3d writes the frame's position in the dataset as ``sample_idx``, which is why its
``lidar_path`` is tried first.) Only a file of a single entry that names no frame at all
(the one-frame JSON above) is taken as it is.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SPLITS = frozenset({'training', 'testing'})


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


def _same_scan(entry_path, query) -> bool:
    """Same file name, and the same split folder where both paths name one: frame 000002
    of ``training/`` is not frame 000002 of ``testing/``."""
    entry_path, query = Path(str(entry_path)), Path(str(query))
    if entry_path.name != query.name:
        return False
    entry_split = _SPLITS.intersection(entry_path.parts)
    query_split = _SPLITS.intersection(query.parts)
    return not (entry_split and query_split) or entry_split == query_split


def _frame_number(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def load_predictions(path, lidar_name: str | None = None,
                     sample_idx: int | None = None) -> Predictions:
    """The detections of one frame in the results file ``path`` (formats: module doc).

    Args:
        path: ``.pkl`` (mmdet3d test output, or the json layout pickled) or ``.json``.
        lidar_name: the frame's scan, a file name (``000001.bin``) or a path (whose split
            folder, ``training``/``testing``, is then compared too).
        sample_idx: the frame number, used for entries without ``lidar_path``.

    The frame is looked up in every file, also in one of a single entry; a ValueError
    names the frame and what the file holds when it is not there (or is there twice).
    Without ``lidar_name`` and ``sample_idx`` the file must hold a single frame.
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

    def named(entry):
        return entry.get('lidar_path') is not None or entry.get('sample_idx') is not None

    # a single frame that names none (the one-frame JSON layout) cannot be checked; and
    # a caller that names no frame takes the only one there is
    if len(entries) == 1 and (not named(entries[0])
                              or (lidar_name is None and sample_idx is None)):
        return _frame_predictions(entries[0], path)

    def matches(entry):
        if entry.get('lidar_path') is not None:
            return lidar_name is not None and _same_scan(entry['lidar_path'], lidar_name)
        return (sample_idx is not None and entry.get('sample_idx') is not None
                and _frame_number(entry['sample_idx']) == sample_idx)

    found = [e for e in entries if matches(e)]
    if len(found) != 1:
        known = [str(Path(str(e['lidar_path'])).name) if e.get('lidar_path') is not None
                 else e.get('sample_idx') for e in entries[:10]]
        raise ValueError(f'{path}: {len(found)} of its {len(entries)} frames match '
                         f'lidar_path {lidar_name!r} / sample_idx {sample_idx!r}; it holds '
                         f'{known}{" ..." if len(entries) > 10 else ""}')
    return _frame_predictions(found[0], path)
