"""One run of ``tools/compare.py``, in its own process: train a config (from random
weights or from a warm-start checkpoint), test it, measure how it ranks its anchors, and
write ``result.json``.

    python -m rankdet.evidence.job JOB_DIR/job.json

The job file (written by :mod:`rankdet.evidence.scheduler`) holds the spec:

    name, kind ('2d' or '3d'), config, cfg_options, data_root, seed, iters,
    load_from (a checkpoint or null), work_dir, evaluate, analyse,
    analysis_max_images, gradient_batches, threads

Training, testing and the checkpoint go through mmengine's Runner as ``tools/train.py``
and ``tools/test.py`` do; the pair analysis is ``tools/analyze_pairs.py``'s.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REQUIRED = ('name', 'kind', 'config', 'data_root', 'seed', 'iters', 'work_dir')


def write_json(path: Path, value) -> None:
    """``value`` as strict JSON at ``path`` (NaN as null, paths as text), written beside
    it and renamed; its folder is made if needed."""
    from rankdet.atomic_write import atomic_write_json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, value, sort_keys=True, default=str)


def build_config(spec: dict):
    """The mmengine config of a job: its file, options, data root, seed, length and warm
    start; validation switched off (the job tests once, after training)."""
    from rankdet.demo.demo2d import point_at_data
    from rankdet.demo.demo3d import with_data_root
    from rankdet.fit_schedule import fit_schedule
    from rankdet.runner_config import load_config

    cfg = load_config(spec['config'], spec.get('cfg_options') or None,
                      work_dir=str(Path(spec['work_dir']) / 'train'))
    if spec['kind'] == '2d':
        point_at_data(cfg, spec['data_root'])
    else:
        with_data_root(cfg, spec['data_root'])
        # the COCO configs score every box after NMS (score_thr 0); the KITTI metric
        # needs the same to see a short run's boxes at all
        cfg.model.test_cfg.score_thr = 0.0
    fit_schedule(cfg, spec['iters'])
    cfg.randomness = dict(seed=spec['seed'])
    cfg.load_from = spec.get('load_from')
    cfg.resume = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = max(1, min(50, spec['iters'] // 10))
    cfg.log_processor = dict(type='LogProcessor', window_size=cfg.default_hooks.logger.interval,
                             by_epoch=False)
    return cfg


def headline_metrics(kind: str, metrics: dict) -> dict:
    """The report's metrics from mmdet's CocoMetric or rankdet's KITTI metric.

    2D: ``AP``, ``AP50``, ``AP75`` (COCO bbox, 0-1). 3D: car ``3D_AP40_{easy,moderate,
    hard}`` and ``BEV_AP40_...`` (KITTI R40, percent).
    """
    if kind == '2d':
        names = {'AP': 'coco/bbox_mAP', 'AP50': 'coco/bbox_mAP_50',
                 'AP75': 'coco/bbox_mAP_75'}
    else:
        prefix = 'Kitti metric/pred_instances_3d/KITTI/Car_'
        names = {f'{kind3}_AP40_{level}': f'{prefix}{kind3}_AP40_{level}_strict'
                 for kind3 in ('3D', 'BEV') for level in ('easy', 'moderate', 'hard')}
    missing = [key for key in names.values() if key not in metrics]
    if missing:
        raise KeyError(f'the test metrics lack {missing}; got {sorted(metrics)}')
    return {name: float(metrics[key]) for name, key in names.items()}


def training_record(runner) -> dict:
    """Seconds per iteration and loss curves from the runner's message hub (every
    iteration is kept there)."""
    hub = runner.message_hub
    times = hub.get_scalar('train/time').data[0].tolist()
    steady = times[min(5, len(times) - 1):]  # the first iterations build caches
    record = dict(seconds_per_iter=sum(steady) / len(steady),
                  seconds_per_iter_median=sorted(steady)[len(steady) // 2])
    curves = {}
    for key in hub.log_scalars:
        if key.startswith('train/') and 'loss' in key:
            values = hub.get_scalar(key).data[0].tolist()
            step = max(1, len(values) // 50)
            tenth = max(1, len(values) // 10)
            curves[key[len('train/'):]] = dict(
                first=sum(values[:tenth]) / tenth, last=sum(values[-tenth:]) / tenth,
                every=step, values=values[::step])
    record['losses'] = curves
    return record


def run_job(spec: dict) -> dict:
    """Run the job described by ``spec`` (see the module docstring); returns and writes
    ``work_dir/result.json``."""
    import torch
    from mmengine.runner import Runner

    missing = [key for key in REQUIRED if key not in spec]
    if missing:
        raise KeyError(f'job spec lacks {missing}')
    work_dir = Path(spec['work_dir'])
    torch.set_num_threads(int(spec.get('threads', 1)))
    cfg = build_config(spec)
    result = dict(spec=spec, seconds={})

    if spec.get('load_from') and spec.get('gradient_batches'):
        from .gradient_norms import loss_gradient_norms

        start = time.perf_counter()
        result['gradient_norms_at_start'] = loss_gradient_norms(
            cfg, spec['load_from'], spec['gradient_batches'], seed=spec['seed'])
        result['seconds']['gradient_norms'] = time.perf_counter() - start

    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    result['seconds']['train'] = time.perf_counter() - start
    result['training'] = training_record(runner)
    checkpoint = Path(cfg.work_dir) / f'iter_{spec["iters"]}.pth'
    if not checkpoint.is_file():
        raise FileNotFoundError(f'training finished without writing {checkpoint}')
    result['checkpoint'] = str(checkpoint)

    if spec.get('evaluate', True):
        start = time.perf_counter()
        metrics = runner.test()
        result['seconds']['test'] = time.perf_counter() - start
        result['metrics'] = headline_metrics(spec['kind'], metrics)

    if spec.get('analyse', True):
        start = time.perf_counter()
        limit = spec.get('analysis_max_images')
        out_dir = work_dir / 'pair_analysis'
        if spec['kind'] == '2d':
            from rankdet.analysis.analyze_pairs import analyze_pairs
            analysis = analyze_pairs(cfg, str(checkpoint), out_dir, max_images=limit,
                                     progress=False)
        else:
            from rankdet.analysis.analyze_pairs_3d import analyze_pairs_3d
            analysis = analyze_pairs_3d(cfg, str(checkpoint), out_dir, max_frames=limit,
                                        progress=False)
        result['seconds']['analysis'] = time.perf_counter() - start
        result['pairs'] = dict(ratios=analysis['ratios'], spearman=analysis['spearman'],
                               num_positives=analysis['num_positives'],
                               num_images=analysis['num_images'],
                               class_name=analysis['class_name'],
                               figures={k: str(v) for k, v in analysis['figures'].items()})
    write_json(work_dir / 'result.json', result)
    return result


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python -m rankdet.evidence.job JOB_DIR/job.json', file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        raise FileNotFoundError(f'job file {path} does not exist')
    run_job(json.loads(path.read_text()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
