"""KITTI object evaluation on the CPU: 2D bbox, BEV, 3D and AOS average precision.

A drop-in for mmdet3d's ``kitti_eval`` (``mmdet3d.evaluation.functional``): the same
annotation dicts in, the same ``(result string, dict)`` out, with the same keys
(``KITTI/Car_3D_AP40_moderate_strict``, ``KITTI/Overall_2D_AP11_moderate``, ...). Its
rotated BEV/3D overlaps run on the CPU with numba (:mod:`rankdet.ops.iou3d_numba`)
instead of numba-CUDA, and only within each frame.

The rules are those of the official devkit (``evaluate_object.cpp``):

- Difficulties easy / moderate / hard keep ground truth with 2D box height > 40 / 25 / 25
  px, occlusion <= 0 / 1 / 2 and truncation <= 0.15 / 0.3 / 0.5; harder ground truth of
  the class is ignored (it may absorb a detection but is never missed), as are the
  neighbouring classes Van (for Car) and Person_sitting (for Pedestrian). Detections
  lower than the minimum height are ignored.
- A detection matches when its overlap is strictly above the class threshold: strict
  (Car 0.7 / Pedestrian, Cyclist 0.5 in every metric) or loose (2D 0.7 / 0.5, BEV and 3D
  0.5 / 0.25). Detections covering a DontCare region are not false positives (2D boxes;
  in BEV/3D the devkit's DontCare boxes are placeholders that never overlap).
- Precision is sampled at 41 score thresholds chosen to step recall by 1/40; it is
  made non-increasing, and AP11 averages the points 0, 4, ..., 40 while AP40 averages
  points 1..40. With fewer than 41 true positives the recall steps cannot all be
  reached, so even perfect detections score below 100 (2 boxes: AP11 9.09, AP40 2.5).
- Overlaps: 2D IoU of image boxes; BEV IoU of the camera-frame (x, z) rectangles
  (l, w) rotated by ``rotation_y``; 3D IoU with the height interval [y - h, y] (camera
  y points down; ``location`` is the bottom centre).

One choice differs from mmdet3d: where a threshold has neither TP nor FP its precision
is 0 (mmdet3d divides 0 by 0). The annotation dicts per frame:

- ground truth: ``name`` (N,), ``truncated`` (N,), ``occluded`` (N,), ``alpha`` (N,),
  ``bbox`` (N, 4) x1 y1 x2 y2, and for BEV/3D ``dimensions`` (N, 3) camera l h w,
  ``location`` (N, 3) camera x y z, ``rotation_y`` (N,); DontCare regions are entries
  named ``DontCare``;
- detections: ``name``, ``alpha``, ``bbox``, ``score`` (N,) and the 3D keys above.
"""
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..progress import Progress
from .kitti_difficulty import DIFFICULTIES, MAX_OCCLUSION, MAX_TRUNCATION, MIN_HEIGHT

__all__ = ['kitti_eval', 'CLASS_NAMES']

CLASS_NAMES = ('Car', 'Pedestrian', 'Cyclist', 'Van', 'Person_sitting')
METRICS = ('bbox', 'bev', '3d')
NUM_SAMPLE_PTS = 41
# [strict, loose] x [bbox, bev, 3d] x CLASS_NAMES
MIN_OVERLAPS = np.array([
    [[0.7, 0.5, 0.5, 0.7, 0.5], [0.7, 0.5, 0.5, 0.7, 0.5], [0.7, 0.5, 0.5, 0.7, 0.5]],
    [[0.7, 0.5, 0.5, 0.7, 0.5], [0.5, 0.25, 0.25, 0.5, 0.25], [0.5, 0.25, 0.25, 0.5, 0.25]],
])
# classes whose ground truth is ignored (not missed) when evaluating a class
_NEIGHBOURS = {'car': 'van', 'pedestrian': 'person_sitting'}
_GT_KEYS = ('name', 'truncated', 'occluded', 'alpha', 'bbox')
_DT_KEYS = ('name', 'alpha', 'bbox', 'score')
_BOX3D_KEYS = ('location', 'dimensions', 'rotation_y')
_COLUMNS = {'bbox': 4, 'location': 3, 'dimensions': 3}


@dataclass
class _Frames:
    """All frames' boxes of one side (ground truth or detections), concatenated."""

    start: np.ndarray          # int64[F + 1]: frame f owns rows start[f]:start[f + 1]
    name: np.ndarray           # str[N], lower case
    alpha: np.ndarray          # float64[N]
    bbox: np.ndarray           # float64[N, 4]
    truncated: np.ndarray      # float64[N] (ground truth)
    occluded: np.ndarray       # float64[N] (ground truth)
    score: np.ndarray          # float64[N] (detections)
    box3d: np.ndarray          # float64[N, 7] camera (x, y, z, l, h, w, ry), or [N, 0]


def _field(annos, kind, index, key, num):
    anno = annos[index]
    if key not in anno:
        raise KeyError(f'{kind}_annos[{index}] has no key {key!r} (keys: '
                       f'{sorted(anno)}); KITTI annotation dicts need '
                       f'{", ".join(_GT_KEYS if kind == "gt" else _DT_KEYS)}'
                       f'{" and " + ", ".join(_BOX3D_KEYS) if key in _BOX3D_KEYS else ""}')
    dtype = str if key == 'name' else np.float64
    try:
        value = np.asarray(anno[key], dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f'{kind}_annos[{index}][{key!r}] must be numeric, got '
                         f'{anno[key]!r:.80}') from error
    columns = _COLUMNS.get(key)
    if value.size == 0 and num == 0:  # empty frames often come as (0,) arrays
        return value.reshape((0, columns) if columns else (0,))
    expected = (num, columns) if columns else (num,)
    if value.shape != expected:
        raise ValueError(f'{kind}_annos[{index}][{key!r}] must have shape {expected} for '
                         f'its {num} objects (len of "name"), got {value.shape}')
    return value


def _pack(annos, kind, keys, need_3d):
    if not isinstance(annos, Sequence) or isinstance(annos, (str, bytes)):
        raise TypeError(f'{kind}_annos must be a list of per-frame dicts, got '
                        f'{type(annos).__name__}')
    columns = {key: [] for key in keys + (_BOX3D_KEYS if need_3d else ())}
    counts = []
    for index, anno in enumerate(annos):
        if not isinstance(anno, Mapping):
            raise TypeError(f'{kind}_annos[{index}] must be a dict, got '
                            f'{type(anno).__name__}')
        if 'name' not in anno:
            _field(annos, kind, index, 'name', 0)
        num = len(np.atleast_1d(np.asarray(anno['name'])))
        counts.append(num)
        for key in columns:
            columns[key].append(_field(annos, kind, index, key, num))
    total = int(sum(counts))

    def joined(key, shape):
        values = columns.get(key)
        return np.concatenate(values).reshape(shape) if values else np.zeros(shape)

    box3d = np.zeros((total, 0))
    if need_3d:
        box3d = np.concatenate([joined('location', (total, 3)),
                                joined('dimensions', (total, 3)),
                                joined('rotation_y', (total, 1))], axis=1)
    names = (np.char.lower(np.concatenate(columns['name']).astype(str)) if total
             else np.zeros(0, dtype=str))
    return _Frames(
        start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), name=names,
        alpha=joined('alpha', (total,)), bbox=joined('bbox', (total, 4)),
        truncated=joined('truncated', (total,)), occluded=joined('occluded', (total,)),
        score=joined('score', (total,)), box3d=box3d)


def _lidar_like(box3d):
    """Camera boxes (x, y, z, l, h, w, ry) as the overlap kernels' vertical-z boxes
    (x, z, y - h, l, w, h, -ry): the devkit's BEV polygon is R(-ry) applied to (l, w)
    in the (x, z) plane, and the box spans camera heights y - h .. y."""
    x, y, z, l, h, w, ry = box3d.T
    return np.stack([x, z, y - h, l, w, h, -ry], axis=1)


def _overlaps(gt, dt, metric):
    """Each frame's ``[num_dt, num_gt]`` overlap block, flat, and the block starts."""
    from . import kitti_matching
    ov_start = np.concatenate(
        [[0], np.cumsum(np.diff(dt.start) * np.diff(gt.start))]).astype(np.int64)
    if metric == 'bbox':
        return kitti_matching.image_overlaps_by_frame(
            dt.bbox, gt.bbox, dt.start, gt.start, ov_start), ov_start
    from rankdet.ops.iou3d_numba import overlaps_by_frame
    dt_boxes, gt_boxes = _lidar_like(dt.box3d), _lidar_like(gt.box3d)
    if metric == 'bev':
        dt_boxes, gt_boxes = dt_boxes[:, [0, 1, 3, 4, 6]], gt_boxes[:, [0, 1, 3, 4, 6]]
    flat, block_start = overlaps_by_frame(dt_boxes, gt_boxes, np.diff(dt.start),
                                          np.diff(gt.start))
    return flat, block_start


def _ignore_flags(gt, dt, class_name, difficulty):
    """The devkit's ``cleanData``: ignore flags of every box, and the number of
    evaluated ground truth boxes (the recall denominator)."""
    cls = class_name.lower()
    height = gt.bbox[:, 3] - gt.bbox[:, 1]
    too_hard = ((gt.occluded > MAX_OCCLUSION[difficulty])
                | (gt.truncated > MAX_TRUNCATION[difficulty])
                | (height <= MIN_HEIGHT[difficulty]))
    same = gt.name == cls
    neighbour = gt.name == _NEIGHBOURS.get(cls, None)
    ignored_gt = np.where(same & ~too_hard, 0,
                          np.where(neighbour | (same & too_hard), 1, -1)).astype(np.int64)
    dt_height = np.abs(dt.bbox[:, 3] - dt.bbox[:, 1])
    ignored_dt = np.where(dt_height < MIN_HEIGHT[difficulty], 1,
                          np.where(dt.name == cls, 0, -1)).astype(np.int64)
    return ignored_gt, ignored_dt, int((ignored_gt == 0).sum())


def _precision_curves(gt, dt, dc_start, dc_bbox, metric, class_ids, compute_aos,
                      progress):
    """Precision and orientation similarity at the 41 recall steps:
    two ``float64[num_class, 3 (difficulty), 2 (strict, loose), 41]``. ``progress``
    (:class:`rankdet.progress.Progress`) counts the overlaps and each (class,
    difficulty, threshold) as one step."""
    from . import kitti_matching
    overlaps, ov_start = _overlaps(gt, dt, metric)
    progress.update()
    metric_id = METRICS.index(metric)
    shape = (len(class_ids), len(DIFFICULTIES), len(MIN_OVERLAPS), NUM_SAMPLE_PTS)
    precision, aos = np.zeros(shape), np.zeros(shape)
    for c, class_id in enumerate(class_ids):
        for d in range(len(DIFFICULTIES)):
            ignored_gt, ignored_dt, num_valid_gt = _ignore_flags(
                gt, dt, CLASS_NAMES[class_id], d)
            for k, min_overlap in enumerate(MIN_OVERLAPS[:, metric_id, class_id]):
                progress.update()
                scores = kitti_matching.tp_scores(
                    overlaps, ov_start, gt.start, dt.start, ignored_gt, ignored_dt,
                    dt.score, min_overlap)
                if len(scores) == 0:
                    continue
                thresholds = kitti_matching.recall_thresholds(scores, num_valid_gt,
                                                              NUM_SAMPLE_PTS)
                counts = kitti_matching.pr_counts(
                    overlaps, ov_start, gt.start, dt.start, dc_start, ignored_gt,
                    ignored_dt, dt.score, gt.alpha, dt.alpha, dt.bbox, dc_bbox,
                    min_overlap, thresholds, compute_aos, metric == 'bbox').sum(0)
                tp, fp = counts[:, 0], counts[:, 1]
                detected = np.maximum(tp + fp, 1)  # 0 detections: precision 0, not 0/0
                num = len(thresholds)
                precision[c, d, k, :num] = tp / detected
                aos[c, d, k, :num] = counts[:, 3] / detected
    # precision at recall r is the best precision at any recall >= r
    precision = np.maximum.accumulate(precision[..., ::-1], axis=-1)[..., ::-1]
    aos = np.maximum.accumulate(aos[..., ::-1], axis=-1)[..., ::-1]
    return precision, aos


def _ap11(curve):
    return curve[..., 0::4].sum(-1) / 11 * 100


def _ap40(curve):
    return curve[..., 1:].sum(-1) / 40 * 100


def _class_ids(current_classes):
    if isinstance(current_classes, (str, int, np.integer)):
        current_classes = [current_classes]
    ids = []
    for cls in current_classes:
        if isinstance(cls, (int, np.integer)) and 0 <= cls < len(CLASS_NAMES):
            ids.append(int(cls))
        elif isinstance(cls, str) and cls in CLASS_NAMES:
            ids.append(CLASS_NAMES.index(cls))
        else:
            raise ValueError(f'current_classes must name KITTI classes {CLASS_NAMES} (or '
                             f'their indices 0..{len(CLASS_NAMES) - 1}), got {cls!r}')
    if not ids:
        raise ValueError('current_classes is empty: name at least one KITTI class')
    return ids


def _check_eval_types(eval_types):
    if isinstance(eval_types, str):
        eval_types = [eval_types]
    eval_types = list(eval_types)
    unknown = sorted(set(eval_types) - {'bbox', 'bev', '3d', 'aos'})
    if unknown or not eval_types:
        raise ValueError(f"eval_types must be a non-empty subset of ['bbox', 'bev', '3d', "
                         f"'aos'], got {eval_types}")
    if 'aos' in eval_types and 'bbox' not in eval_types:
        raise ValueError("eval_types with 'aos' must contain 'bbox' too (AOS is measured "
                         f'on the 2D matches), got {eval_types}')
    return eval_types


def _has_alpha(gt, dt):
    """mmdet3d's test: AOS when a detection has alpha != -10 and some frame's first
    ground truth box has alpha != -10 (mmdet3d loops over the frames until one does;
    a frame of only DontCare boxes, alpha -10, does not end the search). Frames
    without ground truth are passed over (mmdet3d would fail on them)."""
    firsts = gt.start[:-1][np.diff(gt.start) > 0]  # first box of each non-empty frame
    return bool((dt.alpha != -10).any()) and bool((gt.alpha[firsts] != -10).any())


def kitti_eval(gt_annos, dt_annos, current_classes, eval_types=('bbox', 'bev', '3d'),
               echo=None):
    """KITTI evaluation of detections against ground truth, frame by frame.

    Args:
        gt_annos (list[dict]): ground truth of each frame (module docstring).
        dt_annos (list[dict]): detections of each frame, in the same order.
        current_classes (list[str | int] | str): classes to evaluate, from
            ``CLASS_NAMES`` ('Car', 'Pedestrian', 'Cyclist', 'Van', 'Person_sitting').
        eval_types (list[str]): subset of 'bbox', 'bev', '3d' (and 'aos', which needs
            'bbox'; AOS is also computed whenever the orientations are valid).
        echo (callable, optional): receives progress lines (with the time left) when
            the evaluation runs longer than a few seconds; default: stderr.

    Returns:
        tuple[str, dict[str, float]]: the printed table, and the APs keyed like
        ``KITTI/{class}_{2D|BEV|3D}_AP{11|40}_{difficulty}_{strict|loose}``, plus
        ``KITTI/Overall_{2D|BEV|3D}_AP{11|40}_{difficulty}`` (strict thresholds, class
        mean) when several classes are evaluated.
    """
    eval_types = _check_eval_types(eval_types)
    class_ids = _class_ids(current_classes)
    need_3d = 'bev' in eval_types or '3d' in eval_types
    gt = _pack(gt_annos, 'gt', _GT_KEYS, need_3d)
    dt = _pack(dt_annos, 'dt', _DT_KEYS, need_3d)
    if len(gt_annos) != len(dt_annos):
        raise ValueError(f'gt_annos and dt_annos must hold the same frames, got '
                         f'{len(gt_annos)} and {len(dt_annos)} frames')
    # DontCare regions per frame: rows dc_start[f]:dc_start[f + 1] of dc_bbox
    is_dontcare = gt.name == 'dontcare'
    dc_start = np.concatenate([[0], np.cumsum(is_dontcare)])[gt.start].astype(np.int64)
    dc_bbox = np.ascontiguousarray(gt.bbox[is_dontcare])
    compute_aos = 'bbox' in eval_types and _has_alpha(gt, dt)

    ap11, ap40 = {}, {}
    metrics = [metric for metric in METRICS if metric in eval_types]
    steps = len(metrics) * (1 + len(class_ids) * len(DIFFICULTIES) * len(MIN_OVERLAPS))
    with Progress(steps, f'KITTI evaluation of {len(gt_annos)} frames ('
                  f'{", ".join(metrics)}), steps', echo=echo) as progress:
        for metric in metrics:
            precision, aos = _precision_curves(gt, dt, dc_start, dc_bbox, metric,
                                               class_ids, compute_aos and metric == 'bbox',
                                               progress)
            ap11[metric], ap40[metric] = _ap11(precision), _ap40(precision)
            if metric == 'bbox' and compute_aos:
                ap11['aos'], ap40['aos'] = _ap11(aos), _ap40(aos)
    return _report(class_ids, ap11, ap40)


_ROWS = (('bbox', 'bbox', '2D', 4), ('bev', 'bev ', 'BEV', 4), ('3d', '3d  ', '3D', 4),
         ('aos', 'aos ', None, 2))


def _report(class_ids, ap11, ap40):
    """The result string and dict, laid out exactly as mmdet3d's ``kitti_eval``."""
    result, ret_dict = '', {}
    for points, aps in ((11, ap11), (40, ap40)):
        result += f'\n----------- AP{points} Results ------------\n\n'
        for j, class_id in enumerate(class_ids):
            name = CLASS_NAMES[class_id]
            for i in range(len(MIN_OVERLAPS)):
                result += '{} AP{}@{:.2f}, {:.2f}, {:.2f}:\n'.format(
                    name, points, *MIN_OVERLAPS[i, :, class_id])
                for key, label, _, decimals in _ROWS:
                    if key in aps:
                        values = ', '.join(f'{v:.{decimals}f}' for v in aps[key][j, :, i])
                        result += f'{label} AP{points}:{values}\n'
                for d, difficulty in enumerate(DIFFICULTIES):
                    postfix = f'{difficulty}_{"strict" if i == 0 else "loose"}'
                    for key, _, tag, _ in _ROWS[2::-1]:
                        if key in aps:
                            ret_dict[f'KITTI/{name}_{tag}_AP{points}_{postfix}'] = \
                                aps[key][j, d, i]
        if len(class_ids) > 1:
            result += '\nOverall AP{}@{}, {}, {}:\n'.format(points, *DIFFICULTIES)
            for key, label, _, decimals in _ROWS:
                if key in aps:
                    values = ', '.join(f'{v:.{decimals}f}'
                                       for v in aps[key].mean(axis=0)[:, 0])
                    result += f'{label} AP{points}:{values}\n'
            for d, difficulty in enumerate(DIFFICULTIES):
                for key, _, tag, _ in _ROWS[2::-1]:
                    if key in aps:
                        ret_dict[f'KITTI/Overall_{tag}_AP{points}_{difficulty}'] = \
                            aps[key].mean(axis=0)[d, 0]
    return result, ret_dict
