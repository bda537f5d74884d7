"""Time rankdet's CPU KITTI evaluation on a synthetic set the size of KITTI val.

The set: ``--frames`` frames (3769 in KITTI val) with about ``--boxes`` ground-truth
boxes each (Car, Pedestrian, Cyclist, Van and DontCare, every difficulty), detections
that are jittered ground truth plus false positives, all with distinct scores.

Each measurement runs in a fresh process:

- cold: an empty numba cache, so numba compiles the kernels (a first run anywhere);
- cached: a new process reusing that cache (every later run on the machine);
- warm: a second evaluation within the cached process (the kernels are loaded).

mmdet3d's ``kitti_eval`` on the 2D boxes (the part that runs without CUDA) is timed
beside rankdet's for the same 2D-only evaluation. The table is printed and written to
``--out`` (markdown).

Example::

    python tools/benchmark_kitti_eval.py --out docs_pending/benchmark_kitti_eval.md
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = ['Car', 'Pedestrian', 'Cyclist']
# class: (probability, (l, h, w) in metres)
_KINDS = {'Car': (0.55, (3.9, 1.56, 1.6)), 'Pedestrian': (0.15, (0.8, 1.75, 0.6)),
          'Cyclist': (0.06, (1.76, 1.74, 0.6)), 'Van': (0.06, (5.0, 2.2, 1.9)),
          'DontCare': (0.18, (-1.0, -1.0, -1.0))}
_FOCAL, _CU, _CV = 721.5, 609.6, 172.9  # KITTI's P2 intrinsics


def _project(loc, dims):
    """An approximate image box of camera boxes (pinhole, box size seen face on)."""
    x, y, z = loc.T
    l, h, w = dims.T
    half_w = _FOCAL * np.maximum(l, w) / 2 / z
    u, v_bottom = _CU + _FOCAL * x / z, _CV + _FOCAL * y / z
    return np.stack([u - half_w, v_bottom - _FOCAL * h / z, u + half_w, v_bottom], axis=1)


def synthetic_annos(num_frames, boxes_per_frame, seed=0):
    """``(gt_annos, dt_annos)``: lists of mmdet3d/KITTI annotation dicts."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(boxes_per_frame, num_frames)
    total = int(counts.sum())
    kinds = list(_KINDS)
    name = rng.choice(kinds, total, p=[_KINDS[k][0] for k in kinds])
    dims = np.array([_KINDS[k][1] for k in name]) * rng.uniform(0.9, 1.1, (total, 3))
    loc = np.stack([rng.uniform(-25, 25, total), rng.uniform(1.4, 1.9, total),
                    rng.uniform(4, 70, total)], axis=1)
    ry = rng.uniform(-np.pi, np.pi, total)
    bbox = _project(loc, np.abs(dims))
    gt = dict(name=name, truncated=rng.choice([0.0, 0.0, 0.1, 0.2, 0.4, 0.6], total),
              occluded=rng.choice([0.0, 0.0, 1.0, 1.0, 2.0, 3.0], total),
              alpha=ry - np.arctan2(loc[:, 0], loc[:, 2]), bbox=bbox, dimensions=dims,
              location=loc, rotation_y=ry)
    dontcare = name == 'DontCare'
    for key, value in (('location', -1000.0), ('rotation_y', -10.0), ('alpha', -10.0),
                       ('truncated', -1.0), ('occluded', -1.0)):
        gt[key][dontcare] = value

    # detections: 90 % of the objects, jittered, and ~3 false positives per frame
    found = ~dontcare & (rng.random(total) < 0.9)
    frame_of = np.repeat(np.arange(num_frames), counts)
    num_fp = rng.poisson(3, num_frames)
    fp_frame = np.repeat(np.arange(num_frames), num_fp)
    fp_name = rng.choice(CLASSES, len(fp_frame), p=[0.7, 0.2, 0.1])
    fp_dims = np.array([_KINDS[k][1] for k in fp_name]).reshape(-1, 3)
    fp_loc = np.stack([rng.uniform(-25, 25, len(fp_frame)), rng.uniform(1.4, 1.9, len(fp_frame)),
                       rng.uniform(4, 70, len(fp_frame))], axis=1)
    m = int(found.sum())
    dt = dict(
        name=np.concatenate([name[found], fp_name]),
        dimensions=np.concatenate([dims[found] * rng.normal(1, 0.05, (m, 3)), fp_dims]),
        location=np.concatenate([loc[found] + rng.normal(0, 0.15, (m, 3)), fp_loc]),
        rotation_y=np.concatenate([ry[found] + rng.normal(0, 0.05, m),
                                   rng.uniform(-np.pi, np.pi, len(fp_frame))]),
        # continuous random scores are distinct; good detections tend to score higher
        score=np.concatenate([0.3 + 0.7 * rng.random(m), 0.7 * rng.random(len(fp_frame))]))
    dt['bbox'] = _project(dt['location'], dt['dimensions'])
    dt['alpha'] = dt['rotation_y'] - np.arctan2(dt['location'][:, 0], dt['location'][:, 2])
    dt_frame = np.concatenate([frame_of[found], fp_frame])
    order = np.argsort(dt_frame, kind='stable')
    dt = {key: value[order] for key, value in dt.items()}
    dt_counts = np.bincount(dt_frame, minlength=num_frames)

    def split(table, sizes):
        cuts = np.cumsum(sizes)[:-1]
        columns = {key: np.split(value, cuts) for key, value in table.items()}
        return [{key: columns[key][f] for key in table} for f in range(num_frames)]

    return split(gt, counts), split(dt, dt_counts)


def _worker(args):
    """One timed process: prints a JSON line of seconds."""
    gt_annos, dt_annos = synthetic_annos(args.frames, args.boxes, args.seed)
    eval_types = args.eval_types.split(',')
    if args.worker == 'rankdet':
        from rankdet.evaluation.kitti_eval import kitti_eval
    else:
        from mmdet3d.evaluation.functional import kitti_eval
    times, results = [], None
    for _ in range(2):
        start = time.perf_counter()
        _, results = kitti_eval(gt_annos, dt_annos, CLASSES, eval_types=list(eval_types))
        times.append(time.perf_counter() - start)
    print(json.dumps({'first': times[0], 'second': times[1],
                      'car_moderate': results.get('KITTI/Car_2D_AP40_moderate_strict'),
                      'car_3d_moderate': results.get('KITTI/Car_3D_AP40_moderate_strict')}))


def _run(args, worker, eval_types, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    repo = Path(__file__).resolve().parents[1]
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(repo), env.get('PYTHONPATH')]))
    command = [sys.executable, __file__, '--worker', worker, '--eval-types', eval_types,
               '--frames', str(args.frames), '--boxes', str(args.boxes),
               '--seed', str(args.seed)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'{worker} worker failed:\n{done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=3769)
    parser.add_argument('--boxes', type=float, default=10.0,
                        help='mean ground-truth boxes per frame (DontCare included)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', type=Path, default=None, help='markdown table to write')
    parser.add_argument('--skip-mmdet3d', action='store_true')
    parser.add_argument('--worker', choices=['rankdet', 'mmdet3d'], help=argparse.SUPPRESS)
    parser.add_argument('--eval-types', default='bbox,bev,3d', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)

    gt_annos, dt_annos = synthetic_annos(args.frames, args.boxes, args.seed)
    num_gt = sum(len(a['name']) for a in gt_annos)
    num_dt = sum(len(a['name']) for a in dt_annos)
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for eval_types in ('bbox,bev,3d', 'bbox'):
            cold = _run(args, 'rankdet', eval_types, Path(cache) / eval_types)
            cached = _run(args, 'rankdet', eval_types, Path(cache) / eval_types)
            rows.append(('rankdet', eval_types, cold['first'], cached['first'],
                         cached['second'], cached['car_moderate']))
            print(f'rankdet {eval_types}: cold {cold["first"]:.1f} s, cached '
                  f'{cached["first"]:.1f} s, warm {cached["second"]:.1f} s', flush=True)
        if not args.skip_mmdet3d:
            try:
                mm = _run(args, 'mmdet3d', 'bbox', Path(cache) / 'mmdet3d')
            except RuntimeError as error:
                print(f'mmdet3d kitti_eval not timed: {error}', file=sys.stderr)
            else:
                rows.append(('mmdet3d 1.4 kitti_eval', 'bbox', mm['first'], None,
                             mm['second'], mm['car_moderate']))
                print(f'mmdet3d bbox: first {mm["first"]:.1f} s, second '
                      f'{mm["second"]:.1f} s', flush=True)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg()) if hasattr(os, 'getloadavg') else '?'
    lines = [
        '## KITTI evaluation on the CPU: time for a KITTI-val-sized set',
        '',
        f'Synthetic set: {args.frames} frames, {num_gt} ground-truth boxes '
        f'({num_gt / max(args.frames, 1):.1f} per frame, DontCare included), {num_dt} '
        f'detections; classes {", ".join(CLASSES)}; easy/moderate/hard, strict and loose '
        f'thresholds, AP11 and AP40 (AOS with the 2D boxes). Time of the `kitti_eval` call '
        f'alone (annotation dicts in, result out). Machine: {cores} CPU cores '
        f'({platform.machine()}), Python {platform.python_version()}, load average '
        f'{load} at the end of the run. Command: `python tools/benchmark_kitti_eval.py`.',
        '',
        '| evaluator | metrics | cold: first run, numba compiles | cached: new process '
        '| warm: 2nd call | Car 2D AP40 moderate |',
        '|---|---|---|---|---|---|',
    ]
    for name, types, cold, cached, warm, car in rows:
        cached_cell = f'{cached:.1f} s' if cached is not None else 'as cold (no numba cache)'
        lines.append(f'| {name} | {types.replace(",", ", ")} | {cold:.1f} s | {cached_cell} '
                     f'| {warm:.1f} s | {car:.2f} |')
    lines += ['', 'Target: under 60 s for the full evaluation (2D, BEV, 3D, AOS) on 2 cores. '
              "mmdet3d's BEV/3D part needs CUDA and is not timed.", '']
    text = '\n'.join(lines)
    print(text)
    if args.out is not None:
        from rankdet.atomic_write import atomic_write_text
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text)


if __name__ == '__main__':
    main()
