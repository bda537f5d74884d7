"""numba kernels of the KITTI evaluation: per-frame matching and precision/recall counts.

A transcription of the official devkit's ``computeStatistics`` / ``getThresholds``
(``evaluate_object.cpp``), run for all frames at once over flat arrays:

- frame ``f`` owns ground truth ``gt_start[f]:gt_start[f + 1]``, detections
  ``dt_start[f]:dt_start[f + 1]`` and DontCare boxes ``dc_start[f]:dc_start[f + 1]``;
- its overlaps are the row-major ``[num_dt, num_gt]`` block at
  ``overlaps[ov_start[f]:ov_start[f + 1]]``;
- ``ignored_gt``: 0 evaluated, 1 ignored (neighbouring class or too hard for the
  difficulty: may absorb a detection, is never a miss), -1 another class;
  ``ignored_dt``: 0 evaluated, 1 too small for the difficulty, -1 another class.

The kernels run serially: a frame's work is a few microseconds, less than what
numba's thread pool costs to dispatch it (measured on 2 cores). numba is imported when
this module is; :mod:`rankdet.evaluation.kitti_eval` imports it only when it evaluates.
"""
import numpy as np

try:
    import numba
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError('the KITTI evaluation (rankdet.evaluation.kitti_eval) needs numba: '
                      'pip install numba') from error

_NO_DETECTION = -10000000.0  # the devkit's marker; any real score is above it


@numba.njit(cache=True)
def _image_overlap(a, b, criterion):
    """Overlap of two (x1, y1, x2, y2) boxes: -1 IoU, 0 over ``a``'s area (no +1 pixel)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0.0 or ih <= 0.0:
        return 0.0
    inter = iw * ih
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    if criterion == 0:
        return inter / area_a
    return inter / (area_a + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@numba.njit(parallel=True, cache=True)
def image_overlaps_by_frame(dt_bbox, gt_bbox, dt_start, gt_start, ov_start):
    """2D IoU of each frame's detections with its ground truth: the flat blocks."""
    out = np.zeros(ov_start[-1])
    for f in numba.prange(gt_start.shape[0] - 1):
        num_gt = gt_start[f + 1] - gt_start[f]
        for i in range(dt_start[f + 1] - dt_start[f]):
            for j in range(num_gt):
                out[ov_start[f] + i * num_gt + j] = _image_overlap(
                    dt_bbox[dt_start[f] + i], gt_bbox[gt_start[f] + j], -1)
    return out


@numba.njit(cache=True)
def _match_frame(overlaps, ignored_gt, ignored_dt, dt_score, gt_alpha, dt_alpha, dt_bbox,
                 dc_bbox, min_overlap, thresh, compute_fp, compute_aos, tp_scores):
    """The devkit's ``computeStatistics`` for one frame.

    Without ``compute_fp`` each ground truth takes the highest-scored free detection
    above ``min_overlap`` (this gives the TP scores, written to ``tp_scores``); with it,
    only detections scored >= ``thresh`` take part, a ground truth takes the free
    evaluated detection of greatest overlap (else a too-small one), and false positives
    that cover a DontCare box (``dc_bbox``, over the detection's area) are forgiven.

    Returns:
        (tp, fp, fn, similarity): similarity is the sum of (1 + cos(d alpha)) / 2 over
        the TPs (FPs add 0), or -1 when the frame has neither TP nor FP.
    """
    num_dt, num_gt = overlaps.shape
    assigned = np.zeros(num_dt, dtype=np.bool_)
    below = np.zeros(num_dt, dtype=np.bool_)
    if compute_fp:
        for j in range(num_dt):
            below[j] = dt_score[j] < thresh
    tp, fp, fn = 0, 0, 0
    similarity = 0.0
    for i in range(num_gt):
        if ignored_gt[i] == -1:
            continue
        det_idx = -1
        valid_detection = _NO_DETECTION
        max_overlap = 0.0
        assigned_ignored_det = False
        for j in range(num_dt):
            if ignored_dt[j] == -1 or assigned[j] or below[j]:
                continue
            overlap = overlaps[j, i]
            if overlap <= min_overlap:
                continue
            if not compute_fp:
                if dt_score[j] > valid_detection:
                    det_idx = j
                    valid_detection = dt_score[j]
            elif (overlap > max_overlap or assigned_ignored_det) and ignored_dt[j] == 0:
                max_overlap = overlap
                det_idx = j
                valid_detection = 1.0
                assigned_ignored_det = False
            elif valid_detection == _NO_DETECTION and ignored_dt[j] == 1:
                det_idx = j
                valid_detection = 1.0
                assigned_ignored_det = True
        if valid_detection == _NO_DETECTION:
            if ignored_gt[i] == 0:
                fn += 1
        elif ignored_gt[i] == 1 or ignored_dt[det_idx] == 1:
            assigned[det_idx] = True
        else:
            tp_scores[tp] = dt_score[det_idx]
            tp += 1
            if compute_aos:
                similarity += (1.0 + np.cos(gt_alpha[i] - dt_alpha[det_idx])) / 2.0
            assigned[det_idx] = True
    if compute_fp:
        for j in range(num_dt):
            if not (assigned[j] or ignored_dt[j] != 0 or below[j]):
                fp += 1
        for k in range(dc_bbox.shape[0]):
            for j in range(num_dt):
                if assigned[j] or ignored_dt[j] != 0 or below[j]:
                    continue
                if _image_overlap(dt_bbox[j], dc_bbox[k], 0) > min_overlap:
                    assigned[j] = True
                    fp -= 1
        if tp == 0 and fp == 0:
            similarity = -1.0
    return tp, fp, fn, similarity


@numba.njit(cache=True)
def tp_scores(overlaps, ov_start, gt_start, dt_start, ignored_gt, ignored_dt, dt_score,
              min_overlap):
    """Scores of the true positives of all frames (matching by score, no threshold)."""
    num_frames = gt_start.shape[0] - 1
    buffer = np.empty(gt_start[-1])
    counts = np.zeros(num_frames, dtype=np.int64)
    no_dontcare = np.zeros((0, 4))
    for f in range(num_frames):
        g0, g1, d0, d1 = gt_start[f], gt_start[f + 1], dt_start[f], dt_start[f + 1]
        block = overlaps[ov_start[f]:ov_start[f + 1]].reshape((d1 - d0, g1 - g0))
        counts[f] = _match_frame(
            block, ignored_gt[g0:g1], ignored_dt[d0:d1], dt_score[d0:d1],
            np.zeros(0), np.zeros(0), np.zeros((0, 4)), no_dontcare, min_overlap, 0.0,
            False, False, buffer[g0:g1])[0]
    out = np.empty(counts.sum())
    k = 0
    for f in range(num_frames):
        out[k:k + counts[f]] = buffer[gt_start[f]:gt_start[f] + counts[f]]
        k += counts[f]
    return out


@numba.njit(cache=True)
def recall_thresholds(scores, num_gt, num_sample_pts):
    """The devkit's ``getThresholds``: the scores at which recall passes each of the
    ``num_sample_pts`` evenly spaced recall steps (0, 1/40, ..., 1 for 41 points)."""
    ordered = np.sort(scores)[::-1]
    out = np.empty(ordered.shape[0])
    count = 0
    current_recall = 0.0
    last = ordered.shape[0] - 1
    for i in range(ordered.shape[0]):
        l_recall = (i + 1) / num_gt
        r_recall = (i + 2) / num_gt if i < last else l_recall
        if (r_recall - current_recall) < (current_recall - l_recall) and i < last:
            continue
        out[count] = ordered[i]
        count += 1
        current_recall += 1.0 / (num_sample_pts - 1.0)
    return out[:count]


@numba.njit(cache=True)
def pr_counts(overlaps, ov_start, gt_start, dt_start, dc_start, ignored_gt, ignored_dt,
              dt_score, gt_alpha, dt_alpha, dt_bbox, dc_bbox, min_overlap, thresholds,
              compute_aos, use_dontcare):
    """(TP, FP, FN, similarity) summed over frames at each score threshold:
    ``float64[T, 4]``. DontCare boxes are used only when ``use_dontcare`` (2D boxes)."""
    num_frames = gt_start.shape[0] - 1
    per_frame = np.zeros((num_frames, thresholds.shape[0], 4))
    no_dontcare = np.zeros((0, 4))
    for f in range(num_frames):
        g0, g1, d0, d1 = gt_start[f], gt_start[f + 1], dt_start[f], dt_start[f + 1]
        block = overlaps[ov_start[f]:ov_start[f + 1]].reshape((d1 - d0, g1 - g0))
        dontcare = dc_bbox[dc_start[f]:dc_start[f + 1]] if use_dontcare else no_dontcare
        scratch = np.empty(g1 - g0)
        for t in range(thresholds.shape[0]):
            tp, fp, fn, similarity = _match_frame(
                block, ignored_gt[g0:g1], ignored_dt[d0:d1], dt_score[d0:d1],
                gt_alpha[g0:g1], dt_alpha[d0:d1], dt_bbox[d0:d1], dontcare, min_overlap,
                thresholds[t], True, compute_aos, scratch)
            per_frame[f, t, 0] = tp
            per_frame[f, t, 1] = fp
            per_frame[f, t, 2] = fn
            if similarity != -1.0:
                per_frame[f, t, 3] = similarity
    return per_frame
