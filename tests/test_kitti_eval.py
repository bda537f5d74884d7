"""rankdet.evaluation.kitti_eval: the KITTI object evaluation on the CPU.

References: mmdet3d's ``kitti_eval`` for the 2D boxes (it runs on the CPU there), and a
plain-Python transcription of the official devkit (``evaluate_object.cpp``) with shapely
polygons for BEV and 3D, on small synthetic sets. Ground truth evaluated against itself
(the real sample frames, tiled) scores 100 wherever there is ground truth.
"""
import json
import math
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('numba', reason='the KITTI evaluation runs its kernels with numba')

from rankdet.evaluation.kitti_eval import CLASS_NAMES, kitti_eval  # noqa: E402

# class: (length, height, width) means in metres
SIZES = {'Car': (3.9, 1.56, 1.6), 'Van': (5.0, 2.2, 1.9), 'Pedestrian': (0.8, 1.75, 0.6),
         'Person_sitting': (0.8, 1.3, 0.6), 'Cyclist': (1.76, 1.74, 0.6)}


def synthetic_frames(num_frames, seed, max_gt=6, jitter=0.1):
    """Random ground truth (all classes, all difficulties, DontCare regions) and
    detections: jittered ground truth, some with a wrong class or too small, plus
    false positives; every detection has a distinct score."""
    rng = np.random.default_rng(seed)
    names = ['Car', 'Car', 'Car', 'Pedestrian', 'Pedestrian', 'Cyclist', 'Van',
             'Person_sitting', 'DontCare']
    gt_annos, dt_annos = [], []
    num_dt_total = 0
    for _ in range(num_frames):
        n = int(rng.integers(0, max_gt + 1))
        name = rng.choice(names, n)
        dims = np.array([SIZES.get(c, (1, 1, 1)) for c in name]).reshape(n, 3)
        dims = dims * rng.uniform(0.85, 1.15, (n, 3))
        # spread out in x so that most boxes do not overlap, some do
        loc = np.stack([rng.uniform(-20, 20, n), rng.uniform(1.4, 1.9, n),
                        rng.uniform(5, 50, n)], axis=1)
        ry = rng.uniform(-math.pi, math.pi, n)
        x1, y1 = rng.uniform(0, 1100, n), rng.uniform(100, 250, n)
        height = rng.choice([20.0, 30.0, 45.0, 80.0, 150.0], n) * rng.uniform(0.9, 1.1, n)
        bbox = np.stack([x1, y1, x1 + height * rng.uniform(0.5, 2.5, n), y1 + height], 1)
        gt = dict(name=name.astype(object), truncated=rng.choice([0.0, 0.1, 0.2, 0.4, 0.7], n),
                  occluded=rng.choice([0.0, 0.0, 1.0, 2.0, 3.0], n),
                  alpha=rng.uniform(-3, 3, n),
                  bbox=bbox, dimensions=dims, location=loc, rotation_y=ry)
        dc = name == 'DontCare'
        for key, value in (('dimensions', -1.0), ('location', -1000.0),
                           ('rotation_y', -10.0), ('alpha', -10.0)):
            gt[key][dc] = value
        gt['truncated'][dc], gt['occluded'][dc] = -1.0, -1.0
        gt_annos.append(gt)

        keep = ~dc & (rng.random(n) < 0.85)
        m = int(keep.sum())
        det_name = name[keep].copy()
        relabel = rng.random(m) < 0.1
        det_name[relabel] = rng.choice(names[:-1], int(relabel.sum()))
        k = int(rng.integers(0, 3))  # false positives
        fp_name = rng.choice(names[:-1], k)
        fp_dims = np.array([SIZES[c] for c in fp_name]).reshape(k, 3)
        fp_loc = np.stack([rng.uniform(-20, 20, k), rng.uniform(1.4, 1.9, k),
                           rng.uniform(5, 50, k)], 1)
        fp_x1, fp_y1 = rng.uniform(0, 1100, k), rng.uniform(100, 250, k)
        fp_h = rng.uniform(15, 120, k)
        fp_bbox = np.stack([fp_x1, fp_y1, fp_x1 + fp_h, fp_y1 + fp_h], 1)
        dt = dict(
            name=np.concatenate([det_name, fp_name]).astype(object),
            alpha=np.concatenate([gt['alpha'][keep] + rng.normal(0, 0.3, m),
                                  rng.uniform(-3, 3, k)]),
            bbox=np.concatenate([bbox[keep] + rng.normal(0, 4, (m, 4)), fp_bbox]),
            dimensions=np.concatenate([dims[keep] * rng.normal(1, 0.05, (m, 3)), fp_dims]),
            location=np.concatenate([loc[keep] + rng.normal(0, jitter, (m, 3)), fp_loc]),
            rotation_y=np.concatenate([ry[keep] + rng.normal(0, 0.1, m),
                                       rng.uniform(-3, 3, k)]))
        dt['truncated'] = np.zeros(m + k)
        dt['occluded'] = np.zeros(m + k)
        num_dt_total += m + k
        dt_annos.append(dt)
    scores = rng.permutation(num_dt_total) / num_dt_total + 0.01
    start = 0
    for dt in dt_annos:
        dt['score'] = scores[start:start + len(dt['name'])]
        start += len(dt['name'])
    return gt_annos, dt_annos


# ----------------------------------------------------------------------------------------
# Plain-Python transcription of the official devkit (evaluate_object.cpp)
# ----------------------------------------------------------------------------------------
MIN_HEIGHT, MAX_OCCLUSION, MAX_TRUNCATION = [40, 25, 25], [0, 1, 2], [0.15, 0.3, 0.5]
OVERLAPS = {  # metric -> [strict, loose] thresholds per class name
    'bbox': [{'Car': .7, 'Pedestrian': .5, 'Cyclist': .5, 'Van': .7, 'Person_sitting': .5}] * 2,
    'bev': [{'Car': .7, 'Pedestrian': .5, 'Cyclist': .5, 'Van': .7, 'Person_sitting': .5},
            {'Car': .5, 'Pedestrian': .25, 'Cyclist': .25, 'Van': .5, 'Person_sitting': .25}],
}
OVERLAPS['3d'] = OVERLAPS['bev']


def devkit_polygon(obj):
    """toPolygon(): corners R @ (l, w) corners + (x, z), R = [[cos, sin], [-sin, cos]]."""
    from shapely.geometry import Polygon
    (l, _, w), (x, _, z), ry = obj['dims'], obj['loc'], obj['ry']
    c, s = math.cos(ry), math.sin(ry)
    pts = [(l / 2, w / 2), (l / 2, -w / 2), (-l / 2, -w / 2), (-l / 2, w / 2)]
    return Polygon([(c * u + s * v + x, -s * u + c * v + z) for u, v in pts])


def devkit_overlap(det, gt, metric, criterion=-1):
    if metric == 'bbox':
        a, b = det['bbox'], gt['bbox']
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        if w <= 0 or h <= 0:
            return 0.0
        inter = w * h
        area_a = (a[2] - a[0]) * (a[3] - a[1])
        area_b = (b[2] - b[0]) * (b[3] - b[1])
        return inter / area_a if criterion == 0 else inter / (area_a + area_b - inter)
    dp, gp = devkit_polygon(det), devkit_polygon(gt)
    inter = dp.intersection(gp).area
    if metric == 'bev':
        return inter / dp.union(gp).area
    ymax = min(det['loc'][1], gt['loc'][1])
    ymin = max(det['loc'][1] - det['dims'][1], gt['loc'][1] - gt['dims'][1])
    inter_vol = inter * max(0.0, ymax - ymin)
    det_vol = det['dims'][0] * det['dims'][1] * det['dims'][2]
    gt_vol = gt['dims'][0] * gt['dims'][1] * gt['dims'][2]
    return inter_vol / (det_vol + gt_vol - inter_vol)


def objects(anno):
    out = []
    for i in range(len(anno['name'])):
        out.append(dict(type=str(anno['name'][i]), bbox=[float(v) for v in anno['bbox'][i]],
                        alpha=float(anno['alpha'][i]),
                        trunc=float(anno.get('truncated', np.zeros(999))[i]),
                        occ=float(anno.get('occluded', np.zeros(999))[i]),
                        dims=[float(v) for v in anno['dimensions'][i]],
                        loc=[float(v) for v in anno['location'][i]],
                        ry=float(anno['rotation_y'][i]),
                        score=float(anno['score'][i]) if 'score' in anno else None))
    return out


def clean_data(cls, gts, dets, difficulty):
    ignored_gt, ignored_det, dontcare, n_gt = [], [], [], 0
    for g in gts:
        height = g['bbox'][3] - g['bbox'][1]
        if g['type'].lower() == cls.lower():
            valid = 1
        elif cls == 'Pedestrian' and g['type'].lower() == 'person_sitting':
            valid = 0
        elif cls == 'Car' and g['type'].lower() == 'van':
            valid = 0
        else:
            valid = -1
        ignore = (g['occ'] > MAX_OCCLUSION[difficulty] or g['trunc'] > MAX_TRUNCATION[difficulty]
                  or height <= MIN_HEIGHT[difficulty])
        if valid == 1 and not ignore:
            ignored_gt.append(0)
            n_gt += 1
        elif valid == 0 or (ignore and valid == 1):
            ignored_gt.append(1)
        else:
            ignored_gt.append(-1)
        if g['type'].lower() == 'dontcare':
            dontcare.append(g)
    for d in dets:
        height = abs(d['bbox'][3] - d['bbox'][1])
        if height < MIN_HEIGHT[difficulty]:
            ignored_det.append(1)
        elif d['type'].lower() == cls.lower():
            ignored_det.append(0)
        else:
            ignored_det.append(-1)
    return ignored_gt, ignored_det, dontcare, n_gt


def compute_statistics(overlap, gts, dets, dontcare, ignored_gt, ignored_det, min_overlap,
                       compute_fp, thresh=0.0):
    """computeStatistics(): returns tp, fp, fn, similarity (or None), tp scores."""
    no_detection = -10000000
    assigned = [False] * len(dets)
    below = [compute_fp and d['score'] < thresh for d in dets]
    tp = fp = fn = 0
    scores, delta = [], []
    for i, g in enumerate(gts):
        if ignored_gt[i] == -1:
            continue
        det_idx, valid_detection, max_overlap, assigned_ignored = -1, no_detection, 0, False
        for j, d in enumerate(dets):
            if ignored_det[j] == -1 or assigned[j] or below[j]:
                continue
            ov = overlap[j][i]
            if not compute_fp and ov > min_overlap and d['score'] > valid_detection:
                det_idx, valid_detection = j, d['score']
            elif (compute_fp and ov > min_overlap and (ov > max_overlap or assigned_ignored)
                  and ignored_det[j] == 0):
                max_overlap, det_idx, valid_detection, assigned_ignored = ov, j, 1, False
            elif (compute_fp and ov > min_overlap and valid_detection == no_detection
                  and ignored_det[j] == 1):
                det_idx, valid_detection, assigned_ignored = j, 1, True
        if valid_detection == no_detection and ignored_gt[i] == 0:
            fn += 1
        elif valid_detection != no_detection and (ignored_gt[i] == 1 or ignored_det[det_idx] == 1):
            assigned[det_idx] = True
        elif valid_detection != no_detection:
            tp += 1
            scores.append(dets[det_idx]['score'])
            delta.append(g['alpha'] - dets[det_idx]['alpha'])
            assigned[det_idx] = True
    similarity = None
    if compute_fp:
        fp = sum(1 for j in range(len(dets))
                 if not (assigned[j] or ignored_det[j] in (-1, 1) or below[j]))
        for dc in dontcare:
            for j, d in enumerate(dets):
                if assigned[j] or ignored_det[j] in (-1, 1) or below[j]:
                    continue
                if devkit_overlap(d, dc, 'bbox', criterion=0) > min_overlap:
                    assigned[j] = True
                    fp -= 1
        if tp > 0 or fp > 0:
            similarity = sum((1 + math.cos(x)) / 2 for x in delta)
    return tp, fp, fn, similarity, scores


def get_thresholds(scores, n_gt, n_sample_pts=41):
    scores = sorted(scores, reverse=True)
    out, current = [], 0.0
    for i, score in enumerate(scores):
        l_recall = (i + 1) / n_gt
        r_recall = (i + 2) / n_gt if i < len(scores) - 1 else l_recall
        if (r_recall - current) < (current - l_recall) and i < len(scores) - 1:
            continue
        out.append(score)
        current += 1 / (n_sample_pts - 1)
    return out


def devkit_frames(gt_annos, dt_annos, metric):
    """Each frame's objects and its [detection][ground truth] overlaps."""
    frames = []
    for gt_anno, dt_anno in zip(gt_annos, dt_annos):
        gts, dets = objects(gt_anno), objects(dt_anno)
        overlap = [[devkit_overlap(d, g, metric) if g['type'] != 'DontCare' or metric == 'bbox'
                    else 0.0 for g in gts] for d in dets]
        frames.append((gts, dets, overlap))
    return frames


def devkit_ap(frames, cls, metric, difficulty, min_overlap, aos=False):
    """eval_class(): (AP11, AP40) of precision (or of orientation similarity)."""
    frames = [f + clean_data(cls, f[0], f[1], difficulty) for f in frames]
    n_gt = sum(f[-1] for f in frames)
    v = []
    for gts, dets, overlap, i_gt, i_det, dc, _ in frames:
        v += compute_statistics(overlap, gts, dets, dc, i_gt, i_det, min_overlap, False)[4]
    thresholds = get_thresholds(v, n_gt) if v else []
    precision, similarity = [0.0] * 41, [0.0] * 41
    for t, thresh in enumerate(thresholds):
        tp = fp = 0
        sim = 0.0
        for gts, dets, overlap, i_gt, i_det, dc, _ in frames:
            dc = dc if metric == 'bbox' else []
            s = compute_statistics(overlap, gts, dets, dc, i_gt, i_det, min_overlap, True,
                                   thresh)
            tp, fp = tp + s[0], fp + s[1]
            sim += s[3] or 0.0
        precision[t] = tp / (tp + fp)
        similarity[t] = sim / (tp + fp)
    curve = similarity if aos else precision
    curve = [max(curve[i:]) for i in range(41)]
    return sum(curve[0::4]) / 11 * 100, sum(curve[1:]) / 40 * 100


# ----------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize('seed', [0, 1])
def test_matches_devkit_transcription(seed):
    pytest.importorskip('shapely', reason='shapely gives the reference polygons')
    gt_annos, dt_annos = synthetic_frames(60, seed)
    classes = ['Car', 'Pedestrian', 'Cyclist', 'Van']
    _, got = kitti_eval(gt_annos, dt_annos, classes, eval_types=['bbox', 'bev', '3d'])
    tags = {'bbox': '2D', 'bev': 'BEV', '3d': '3D'}
    nonzero = 0
    for metric, tag in tags.items():
        frames = devkit_frames(gt_annos, dt_annos, metric)
        for cls in classes:
            for d, difficulty in enumerate(['easy', 'moderate', 'hard']):
                for k, strictness in enumerate(['strict', 'loose']):
                    ap11, ap40 = devkit_ap(frames, cls, metric, d, OVERLAPS[metric][k][cls])
                    key = f'KITTI/{cls}_{tag}_AP{{}}_{difficulty}_{strictness}'
                    assert got[key.format(11)] == pytest.approx(ap11, abs=1e-9), key
                    assert got[key.format(40)] == pytest.approx(ap40, abs=1e-9), key
                    nonzero += ap40 > 0
    assert nonzero > 50  # the comparison is not all zeros


def test_aos_matches_devkit_transcription():
    pytest.importorskip('shapely', reason='shapely gives the reference polygons')
    gt_annos, dt_annos = synthetic_frames(40, 3)
    text, _ = kitti_eval(gt_annos, dt_annos, ['Car'], eval_types=['bbox'])
    aos11 = [float(v) for v in re.findall(r'aos  AP11:(.*)\n', text)[0].split(',')]
    aos40 = [float(v) for v in re.findall(r'aos  AP40:(.*)\n', text)[0].split(',')]
    frames = devkit_frames(gt_annos, dt_annos, 'bbox')
    for d in range(3):
        ref11, ref40 = devkit_ap(frames, 'Car', 'bbox', d, 0.7, aos=True)
        assert aos11[d] == pytest.approx(ref11, abs=0.006)  # printed with 2 decimals
        assert aos40[d] == pytest.approx(ref40, abs=0.006)


def nonempty_first(gt_annos, dt_annos):
    """The frames reordered so that the first has ground truth: mmdet3d's kitti_eval
    reads ``gt_annos[0]['alpha'][0]`` (an IndexError on an empty first frame)."""
    order = sorted(range(len(gt_annos)), key=lambda i: len(gt_annos[i]['name']) == 0)
    return [gt_annos[i] for i in order], [dt_annos[i] for i in order]


def _mmdet3d_kitti_eval():
    functional = pytest.importorskip('mmdet3d.evaluation.functional',
                                     reason="mmdet3d's kitti_eval is the 2D reference")
    return functional.kitti_eval


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_bbox_matches_mmdet3d(seed):
    mmdet3d_kitti_eval = _mmdet3d_kitti_eval()
    gt_annos, dt_annos = nonempty_first(*synthetic_frames(150, seed))
    classes = ['Car', 'Pedestrian', 'Cyclist']
    ref_text, expected = mmdet3d_kitti_eval(gt_annos, dt_annos, classes, eval_types=['bbox'])
    text, got = kitti_eval(gt_annos, dt_annos, classes, eval_types=['bbox'])
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=0.01), key
    assert sum(v > 0 for v in got.values()) > 10
    # the printed tables (AOS included) agree line by line
    assert text.splitlines()[:3] == ref_text.splitlines()[:3]
    numbers = re.compile(r'-?\d+\.\d+')
    for line, ref_line in zip(text.splitlines(), ref_text.splitlines(), strict=True):
        assert numbers.sub('#', line) == numbers.sub('#', ref_line)
        np.testing.assert_allclose([float(v) for v in numbers.findall(line)],
                                   [float(v) for v in numbers.findall(ref_line)], atol=0.011)


# mmdet3d's BEV/3D overlaps are numba-CUDA kernels; numba's CUDA simulator runs them on
# the CPU (slowly), but it must be switched on before numba is imported: a child process.
_MMDET3D_CUDASIM = """
import json, pickle, sys
from mmdet3d.evaluation.functional import kitti_eval
with open(sys.argv[1], 'rb') as f:
    gt_annos, dt_annos, classes = pickle.load(f)
_, result = kitti_eval(gt_annos, dt_annos, classes, eval_types=['bbox', 'bev', '3d'])
print(json.dumps({key: float(value) for key, value in result.items()}))
"""


def test_bev_3d_match_mmdet3d_on_the_cuda_simulator(tmp_path):
    _mmdet3d_kitti_eval()
    gt_annos, dt_annos = nonempty_first(*synthetic_frames(10, 5, max_gt=8))
    classes = ['Car', 'Pedestrian', 'Cyclist']
    with open(tmp_path / 'annos.pkl', 'wb') as f:
        pickle.dump((gt_annos, dt_annos, classes), f)
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM='1')
    done = subprocess.run([sys.executable, '-c', _MMDET3D_CUDASIM, str(tmp_path / 'annos.pkl')],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = json.loads(done.stdout.strip().splitlines()[-1])
    _, got = kitti_eval(gt_annos, dt_annos, classes)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=0.01), key
    assert sum(value > 0 for key, value in got.items() if '_3D_' in key) > 10


def sample_annos(label_dir, copies):
    """Ground-truth dicts of the sample's label files, tiled ``copies`` times."""
    from rankdet.kitti import read_label
    annos = []
    for path in sorted(label_dir.glob('*.txt')):
        labels = read_label(path)
        annos.append(dict(name=np.array(labels.names), truncated=labels.truncated,
                          occluded=labels.occluded.astype(float), alpha=labels.alpha,
                          bbox=labels.bbox, dimensions=labels.hwl[:, [2, 0, 1]],
                          location=labels.location, rotation_y=labels.rotation_y))
    return annos * copies


def as_detections(gt_annos, seed=0):
    """The ground truth (without DontCare) as detections with distinct scores."""
    rng = np.random.default_rng(seed)
    total = sum(int((np.asarray(a['name']) != 'DontCare').sum()) for a in gt_annos)
    scores, start, dt_annos = rng.permutation(total) / total + 0.01, 0, []
    for anno in gt_annos:
        keep = np.asarray(anno['name']) != 'DontCare'
        dt = {key: np.asarray(value)[keep].copy() for key, value in anno.items()}
        dt['score'] = scores[start:start + int(keep.sum())]
        start += int(keep.sum())
        dt_annos.append(dt)
    return dt_annos


def evaluated_counts(gt_annos, cls, difficulty):
    """Ground truth of ``cls`` kept at ``difficulty`` (the devkit's rules, plainly)."""
    count = 0
    for anno in gt_annos:
        for i, name in enumerate(anno['name']):
            height = anno['bbox'][i][3] - anno['bbox'][i][1]
            count += (name == cls and anno['occluded'][i] <= MAX_OCCLUSION[difficulty]
                      and anno['truncated'][i] <= MAX_TRUNCATION[difficulty]
                      and height > MIN_HEIGHT[difficulty])
    return count


def test_sample_ground_truth_against_itself_scores_100(kitti_sample_root):
    gt_annos = sample_annos(kitti_sample_root / 'training' / 'label_2', copies=50)
    dt_annos = as_detections(gt_annos)
    classes = ['Car', 'Pedestrian', 'Cyclist']
    text, result = kitti_eval(gt_annos, dt_annos, classes)
    checked = 0
    for cls in classes:
        for d, difficulty in enumerate(['easy', 'moderate', 'hard']):
            if evaluated_counts(gt_annos, cls, d) == 0:
                continue  # nothing to find: AP is 0 by the metric's definition
            for tag in ('2D', 'BEV', '3D'):
                for points in (11, 40):
                    for strictness in ('strict', 'loose'):
                        key = f'KITTI/{cls}_{tag}_AP{points}_{difficulty}_{strictness}'
                        assert result[key] == pytest.approx(100.0), key
                        checked += 1
    # the sample has Cars in every difficulty and easy Pedestrians (its Cyclist is
    # occlusion level 3, which no difficulty keeps)
    assert checked >= 4 * 3 * 4
    assert 'aos  AP40:100.00, 100.00, 100.00' in text

    # shifting every predicted box by 0.5 m (camera x) lowers the 3D AP
    shifted = [dict(dt, location=dt['location'] + [0.5, 0.0, 0.0]) for dt in dt_annos]
    _, moved = kitti_eval(gt_annos, shifted, classes)
    lowered = 0
    for key, value in result.items():
        if '_3D_' in key and value > 0:
            # strict thresholds (Car 0.7, others 0.5) no longer match; loose ones may
            assert moved[key] < value if 'strict' in key or 'Overall' in key \
                else moved[key] <= value, key
            lowered += moved[key] < value
        if '_2D_' in key:
            assert moved[key] == value, key
    assert lowered >= 12


def test_perfect_detections_of_few_boxes_cannot_reach_100():
    # docs/method.md section 13: perfect detections of 2 boxes give AP11 9.09 and AP40 2.5
    gt_annos, _ = synthetic_frames(1, 0, max_gt=0)
    gt_annos = [dict(name=np.array(['Car', 'Car']), truncated=np.zeros(2),
                     occluded=np.zeros(2), alpha=np.zeros(2),
                     bbox=np.array([[0, 0, 100, 100], [200, 0, 300, 100.0]]),
                     dimensions=np.array([[3.9, 1.5, 1.6]] * 2),
                     location=np.array([[0, 1.6, 10], [5, 1.6, 20.0]]),
                     rotation_y=np.zeros(2))]
    dt_annos = as_detections(gt_annos)
    _, result = kitti_eval(gt_annos, dt_annos, 'Car')
    assert result['KITTI/Car_3D_AP11_easy_strict'] == pytest.approx(100 / 11)
    assert result['KITTI/Car_3D_AP40_easy_strict'] == pytest.approx(2.5)
    # tiled 41 times there are enough true positives for every recall step
    _, result = kitti_eval(gt_annos * 41, as_detections(gt_annos * 41), 'Car')
    assert result['KITTI/Car_3D_AP40_easy_strict'] == pytest.approx(100.0)


def test_empty_predictions_and_frames_without_ground_truth():
    gt_annos, dt_annos = synthetic_frames(20, 4)
    empty_dt = [dict(name=np.array([]), alpha=np.array([]), bbox=np.zeros((0, 4)),
                     score=np.array([]), dimensions=np.zeros((0, 3)),
                     location=np.zeros((0, 3)), rotation_y=np.array([]))
                for _ in gt_annos]
    _, result = kitti_eval(gt_annos, empty_dt, ['Car', 'Pedestrian'])
    assert result and all(value == 0.0 for value in result.values())
    # frames without any ground truth (even the first one), detections present
    no_gt = [dict(name=np.array([]), truncated=np.array([]), occluded=np.array([]),
                  alpha=np.array([]), bbox=np.zeros((0,)), dimensions=np.zeros((0, 3)),
                  location=np.zeros((0, 3)), rotation_y=np.array([]))
             for _ in gt_annos]
    _, result = kitti_eval(no_gt, dt_annos, ['Car'])
    assert all(value == 0.0 for value in result.values())
    # a mix: empty frames inside a normal set change nothing for the others
    mixed_gt, mixed_dt = gt_annos + no_gt[:3], dt_annos + empty_dt[:3]
    _, expected = kitti_eval(gt_annos, dt_annos, ['Car'])
    _, result = kitti_eval(mixed_gt, mixed_dt, ['Car'])
    assert result == expected
    # no frames at all
    _, result = kitti_eval([], [], ['Car'])
    assert all(value == 0.0 for value in result.values())


def test_result_keys_and_single_class_report():
    gt_annos, dt_annos = synthetic_frames(10, 6)
    text, result = kitti_eval(gt_annos, dt_annos, ['Car', 'Pedestrian'])
    assert 'KITTI/Car_3D_AP40_moderate_strict' in result
    assert 'KITTI/Pedestrian_BEV_AP11_hard_loose' in result
    assert 'KITTI/Overall_2D_AP11_moderate' in result
    assert len(result) == 2 * 3 * 2 * 3 * 2 + 3 * 2 * 3
    assert 'Overall AP40@easy, moderate, hard:' in text
    text, result = kitti_eval(gt_annos, dt_annos, 'Car', eval_types=['bev'])
    assert sorted({key.split('_')[1] for key in result}) == ['BEV']
    assert 'Overall' not in text and 'aos' not in text
    assert CLASS_NAMES[0] == 'Car'


def test_malformed_inputs_give_clear_errors():
    gt_annos, dt_annos = synthetic_frames(3, 7)
    gt_annos[0]['name'] = np.array(['Car', 'Car'])
    gt_annos[0]['bbox'] = np.zeros((2, 4))
    for key in ('truncated', 'occluded', 'alpha', 'rotation_y'):
        gt_annos[0][key] = np.zeros(2)
    gt_annos[0]['dimensions'] = gt_annos[0]['location'] = np.zeros((2, 3))
    with pytest.raises(ValueError, match='same frames.*3 and 2'):
        kitti_eval(gt_annos, dt_annos[:2], 'Car')
    broken = [dict(a) for a in dt_annos]
    del broken[1]['score']
    with pytest.raises(KeyError, match=r"dt_annos\[1\] has no key 'score'"):
        kitti_eval(gt_annos, broken, 'Car')
    broken[1]['score'] = np.array([])  # frame 1 has detections: an empty score is wrong
    assert len(broken[1]['name']) > 0
    with pytest.raises(ValueError, match=r"dt_annos\[1\]\['score'\] must have shape"):
        kitti_eval(gt_annos, broken, 'Car')
    broken = [dict(a) for a in gt_annos]
    broken[0]['bbox'] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"gt_annos\[0\]\['bbox'\] must have shape \(2, 4\)"):
        kitti_eval(broken, dt_annos, 'Car')
    broken = [dict(a) for a in gt_annos]
    broken[0]['location'] = np.zeros((1, 3))
    with pytest.raises(ValueError, match=r"\['location'\] must have shape \(2, 3\)"):
        kitti_eval(broken, dt_annos, 'Car')
    # 2D-only evaluation does not need the 3D keys
    del broken[0]['location']
    kitti_eval(broken, dt_annos, 'Car', eval_types=['bbox'])
    with pytest.raises(ValueError, match='KITTI classes'):
        kitti_eval(gt_annos, dt_annos, 'Truck')
    with pytest.raises(ValueError, match='eval_types'):
        kitti_eval(gt_annos, dt_annos, 'Car', eval_types=['3D'])
    with pytest.raises(ValueError, match="'aos' must contain 'bbox'"):
        kitti_eval(gt_annos, dt_annos, 'Car', eval_types=['aos', 'bev'])
    with pytest.raises(TypeError, match='list of per-frame dicts'):
        kitti_eval(gt_annos[0], dt_annos[0], 'Car')


def test_registered_metric_is_kitti_metric_with_cpu_evaluation(tmp_path):
    registry = pytest.importorskip('mmdet3d.registry', reason='the metric plugs into mmdet3d')
    from mmdet3d.evaluation.metrics import KittiMetric

    import rankdet.registration  # noqa: F401  registers RankKittiMetric
    metric = registry.METRICS.build(dict(type='RankKittiMetric', ann_file=str(tmp_path / 'x.pkl'),
                                         metric='bbox'))
    assert isinstance(metric, KittiMetric) and type(metric).__name__ == 'RankKittiMetric'
    gt_annos, dt_annos = nonempty_first(*synthetic_frames(40, 8))
    classes = ['Pedestrian', 'Cyclist', 'Car']
    # 2D predictions: identical to mmdet3d's own KittiMetric (which runs on the CPU there)
    got = metric.kitti_evaluate({'pred_instances': dt_annos}, gt_annos, 'bbox', classes)
    expected = KittiMetric.kitti_evaluate(metric, {'pred_instances': dt_annos}, gt_annos,
                                          'bbox', classes)
    assert got.keys() == expected.keys() and len(got) == 3 * 3 * 2 * 2 + 3 * 2
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=0.01), key
    # 3D predictions: BEV and 3D as well, keys prefixed like KittiMetric's
    got = metric.kitti_evaluate({'pred_instances_3d': dt_annos}, gt_annos, 'bbox', classes)
    _, direct = kitti_eval(gt_annos, dt_annos, classes)
    assert got == {f'pred_instances_3d/{key}': float(f'{value:.4f}')
                   for key, value in direct.items()}


def test_dontcare_regions_forgive_2d_false_positives_only():
    # each frame: an easy Car found exactly, and a higher-scored false Car whose 2D box
    # lies inside a DontCare region (its 3D box is far from anything)
    car = dict(bbox=[100.0, 100.0, 200.0, 180.0], dimensions=[3.9, 1.5, 1.6],
               location=[0.0, 1.6, 10.0], rotation_y=0.3, alpha=0.2)
    stray = dict(bbox=[600.0, 150.0, 660.0, 200.0], dimensions=[3.9, 1.5, 1.6],
                 location=[8.0, 1.6, 30.0], rotation_y=0.0, alpha=0.0)
    region = dict(bbox=[590.0, 140.0, 700.0, 210.0], dimensions=[-1.0, -1.0, -1.0],
                  location=[-1000.0, -1000.0, -1000.0], rotation_y=-10.0, alpha=-10.0)

    def anno(rows, names, **extra):
        out = {key: np.array([r[key] for r in rows]) for key in rows[0]}
        out.update(name=np.array(names), **extra)
        return out

    frames = 45
    gt_annos = [anno([car, region], ['Car', 'DontCare'], truncated=np.zeros(2),
                     occluded=np.zeros(2)) for _ in range(frames)]
    dt_annos = [anno([car, stray], ['Car', 'Car'],
                     score=np.array([0.1 + f / 1000, 0.9 - f / 1000])) for f in range(frames)]
    _, result = kitti_eval(gt_annos, dt_annos, 'Car')
    assert result['KITTI/Car_2D_AP40_easy_strict'] == pytest.approx(100.0)
    assert result['KITTI/Car_3D_AP40_easy_strict'] < 60.0
    assert result['KITTI/Car_BEV_AP40_easy_strict'] < 60.0
    # without the DontCare region the stray detections are 2D false positives too
    no_region = [dict(anno([car], ['Car'], truncated=np.zeros(1), occluded=np.zeros(1)))
                 for _ in range(frames)]
    _, result = kitti_eval(no_region, dt_annos, 'Car')
    assert result['KITTI/Car_2D_AP40_easy_strict'] < 60.0


def test_aos_rows_stay_when_the_first_frame_holds_only_dontcare():
    """mmdet3d decides on AOS from the first frame whose first box has a valid alpha;
    a first frame of DontCare boxes only (alpha -10) must not remove the AOS rows."""
    gt_annos, dt_annos = nonempty_first(*synthetic_frames(40, 3))
    text, plain = kitti_eval(gt_annos, dt_annos, ['Car'], eval_types=['bbox'])
    assert 'aos  AP11' in text
    dontcare = dict(name=np.array(['DontCare']), truncated=np.array([-1.0]),
                    occluded=np.array([-1.0]), alpha=np.array([-10.0]),
                    bbox=np.array([[5.0, 229.9, 214.1, 367.6]]),
                    dimensions=np.array([[-1.0, -1.0, -1.0]]),
                    location=np.array([[-1000.0, -1000.0, -1000.0]]),
                    rotation_y=np.array([-10.0]))
    no_dt = {key: value[:0] for key, value in dt_annos[0].items()}
    gt_annos, dt_annos = [dontcare] + gt_annos, [no_dt] + dt_annos
    text, result = kitti_eval(gt_annos, dt_annos, ['Car'], eval_types=['bbox'])
    assert text.count('aos  AP11') == 2 and text.count('aos  AP40') == 2  # strict, loose
    assert result == plain  # the DontCare-only frame changes no AP
    # as mmdet3d's kitti_eval, which shows the AOS rows too
    mmdet3d_kitti_eval = _mmdet3d_kitti_eval()
    ref_text, _ = mmdet3d_kitti_eval(gt_annos, dt_annos, ['Car'], eval_types=['bbox'])
    assert [line.split(':')[0] for line in text.splitlines()] == \
        [line.split(':')[0] for line in ref_text.splitlines()]
    # no frame with a valid alpha at all: no AOS rows
    text, _ = kitti_eval([dontcare] * 3, [no_dt] * 3, ['Car'], eval_types=['bbox'])
    assert 'aos' not in text


def test_long_evaluations_show_progress_and_short_ones_stay_quiet(capsys, monkeypatch):
    gt_annos, dt_annos = synthetic_frames(20, 9)
    lines = []
    kitti_eval(gt_annos, dt_annos, ['Car'], echo=lines.append)
    assert lines == []  # well under the 5 s before the first line
    assert capsys.readouterr().err == ''

    from rankdet import progress

    class Slow(progress.Progress):  # every step seems to take 2 s
        def __init__(self, *args, **kwargs):
            ticks = iter(range(0, 10_000, 2))
            super().__init__(*args, clock=lambda: float(next(ticks)), **kwargs)

    import importlib
    monkeypatch.setattr(importlib.import_module('rankdet.evaluation.kitti_eval'),
                        'Progress', Slow)
    kitti_eval(gt_annos, dt_annos, ['Car', 'Pedestrian'], echo=lines.append)
    steps = 3 * (1 + 2 * 3 * 2)  # per metric: the overlaps, then class x difficulty x 2
    assert lines[0].startswith(f'KITTI evaluation of 20 frames (bbox, bev, 3d), steps: '
                               f'3/{steps} (8%), 6 s, about 1 min 12 s left')
    assert lines[-1] == f'KITTI evaluation of 20 frames (bbox, bev, 3d), steps: done, ' \
                        f'{steps} in 1 min 20 s'
