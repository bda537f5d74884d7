"""One run of ``tools/compare.py``, in its own process: train a config (a focal warm
start from random weights until its val AP plateaus, or a continuation from its
checkpoint), validate and test it, measure how it ranks its anchors, and write
``result.json``.

    python -m apps.evidence.job JOB_DIR/job.json

The job file (written by :mod:`apps.evidence.scheduler`) holds the spec:

    name, kind ('2d' or '3d'), config, cfg_options, data_root, test_root (the test
    split's set, optional), seed, iters, warm (a warm start's stopping rule, or null),
    load_from (a checkpoint or null), work_dir, validate, test_cfg (the headline test
    settings), test_views, evaluate, analyse, analysis_max_images, gradient_batches,
    health_hook, threads

:func:`train_run` runs one spec in this process; :func:`warm_then_continue` runs a warm
start and its continuations (``make demo``).

Training, testing and the checkpoint go through mmengine's Runner as ``tools/train.py``
and ``tools/test.py`` do; the pair analysis is ``tools/analyze_pairs.py``'s.
"""
from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Dict, Optional

REQUIRED = ('name', 'kind', 'config', 'data_root', 'seed', 'iters', 'work_dir')
HEALTH_HOOK = 'RankingHealthHook'


def write_json(path: Path, value) -> None:
    """``value`` as strict JSON at ``path`` (NaN as null, paths as text), written beside
    it and renamed; its folder is made if needed."""
    from rankdet.atomic_write import atomic_write_json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, value, sort_keys=True, default=str)


def build_config(spec: dict):
    """The mmengine config of a job: its file, options, data (train and val from
    ``data_root``, test from ``test_root`` if given), seed, test settings (``test_cfg``
    changes of the model), schedule (``warm``: a constant learning rate after the warm-up
    with a validation every ``eval_every`` iterations; else ``iters`` with warm-up and
    cosine decay) and warm start (``load_from``); validation only where the job asks
    (``warm`` or ``validate``); the training-health hook where it is registered."""
    from apps.runner.coco_data_root import point_at_data
    from apps.runner.fit_schedule import fit_schedule
    from apps.runner.kitti_data_root import with_data_root
    from apps.runner.runner_config import load_config

    cfg = load_config(spec['config'], spec.get('cfg_options') or None,
                      work_dir=str(Path(spec['work_dir']) / 'train'))
    if spec['kind'] == '2d':
        point_at_data(cfg, spec['data_root'])
    else:
        with_data_root(cfg, spec['data_root'])
    if spec.get('test_root'):
        point_test_at(cfg, spec['kind'], spec['data_root'], spec['test_root'])
    cfg.model.test_cfg.update(copy.deepcopy(spec.get('test_cfg') or {}))
    warm = spec.get('warm')
    if warm:
        warm_schedule(cfg, warm['max_iters'], warm['eval_every'],
                      decay=warm.get('schedule') == 'anneal')
    else:
        fit_schedule(cfg, spec['iters'])
    cfg.randomness = dict(seed=spec['seed'])
    cfg.load_from = spec.get('load_from')
    cfg.resume = False
    if not (warm or spec.get('validate')):
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    length = warm['max_iters'] if warm else spec['iters']
    cfg.default_hooks.logger.interval = max(1, min(50, length // 10))
    cfg.log_processor = dict(type='LogProcessor', window_size=cfg.default_hooks.logger.interval,
                             by_epoch=False)
    if spec.get('health_hook', True):
        add_health_hook(cfg, spec['kind'])
    return cfg


def point_test_at(cfg, kind: str, data_root, test_root) -> None:
    """Make the test loader and evaluator read ``test_root`` (a set of the same layout
    as ``data_root``, whose val split is the test split); train and val are untouched."""
    from apps.runner.reroot import reroot

    old, new = f'{Path(data_root)}/', f'{Path(test_root)}/'

    # point_at_data / with_data_root wrote data_root/ into every path of both (the
    # copies keep a test loader that shares the val loader's dict from changing it)
    cfg.test_dataloader = reroot(copy.deepcopy(cfg.test_dataloader), old, new)
    cfg.test_evaluator = reroot(copy.deepcopy(cfg.test_evaluator), old, new)
    if cfg.test_dataloader.dataset.get('data_root', new) != new:
        raise ValueError(f'could not point the test loader of {cfg.filename} at {test_root}: '
                         f'its data_root is {cfg.test_dataloader.dataset.data_root}')


def warm_schedule(cfg, max_iters: int, eval_every: int, decay: bool = False) -> None:
    """A warm start's schedule: the config's linear warm-up (at most a fifth of the
    run), then a constant learning rate (``decay``: its cosine decay, the warm start's
    decay phase), a validation every ``eval_every`` iterations, no periodic checkpoint
    (the best one is saved by :class:`WarmStartMonitor`)."""
    from apps.runner.fit_schedule import fit_schedule

    fit_schedule(cfg, max_iters)  # length, warm-up, cosine decay
    if not decay:
        cfg.param_scheduler = [s for s in cfg.param_scheduler if s['type'] == 'LinearLR']
    cfg.train_cfg.val_interval = eval_every
    cfg.default_hooks.checkpoint.interval = max_iters + 1
    cfg.default_hooks.checkpoint.save_last = False


def add_health_hook(cfg, kind: str) -> bool:
    """Add ``RankingHealthHook`` (rank/pos_score_mean, rank/bg_above_0.2, ...) to
    ``cfg.custom_hooks`` unless it is there; False where no such hook is registered."""
    hooks = list(cfg.get('custom_hooks') or [])
    if any(hook.get('type', '').split('.')[-1] == HEALTH_HOOK for hook in hooks):
        return True
    if kind == '2d':
        from mmdet.registry import HOOKS
    else:
        from mmdet3d.registry import HOOKS
    if HOOKS.get(HEALTH_HOOK) is None:
        return False
    cfg.custom_hooks = hooks + [dict(type=HEALTH_HOOK)]
    return True


def headline_metrics(kind: str, metrics: dict) -> dict:
    """The report's metrics from mmdet's CocoMetric or rankdet's KITTI metric.

    2D: ``AP``, ``AP50``, ``AP75`` (COCO bbox, 0-1). 3D: car ``3D_AP40_{easy,moderate,
    hard}`` and ``BEV_AP40_...`` (KITTI R40, percent). CocoMetric returns nothing at all
    when no image has a detection (no score above ``score_thr``): that is AP 0.
    """
    if kind == '2d':
        names = {'AP': 'coco/bbox_mAP', 'AP50': 'coco/bbox_mAP_50',
                 'AP75': 'coco/bbox_mAP_75'}
        if not metrics:  # mmdet logs 'The testing results of the whole dataset is empty'
            return {name: 0.0 for name in names}
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


class WarmStartMonitor:
    """Record every validation of a run; for a warm start, keep the best checkpoint
    (``best.pth``) and stop training once the monitored val AP has not risen by more
    than ``min_delta`` for ``patience`` validations (not before ``min_iters``). A run
    whose best is still within ``min_delta`` of 0 finds nothing yet: it does not stop
    (short of ``max_iters``), and its latest checkpoint is its best.

    Built as an mmengine hook by :func:`monitor_hook` (mmengine is imported lazily)."""

    def __init__(self, kind: str, work_dir: Path, warm: Optional[dict] = None):
        self.kind, self.work_dir, self.warm = kind, Path(work_dir), warm
        self.history = []          # [{'iter': k, **headline metrics}]
        self.best: Optional[dict] = None
        self.stale = 0
        self.stopped = None        # 'plateau' or None (ran to max_iters)

    @property
    def best_checkpoint(self) -> Path:
        return self.work_dir / 'best.pth'

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        values = headline_metrics(self.kind, metrics or {})
        entry = dict(iter=runner.iter, **values)
        self.history.append(entry)
        if not self.warm:
            return
        monitor = self.warm['monitor']
        value = values[monitor]
        best, min_delta = (None if self.best is None else self.best[monitor]), \
            self.warm['min_delta']
        if best is None or value > best + min_delta or best <= min_delta:
            # a rise; or no measurable detector yet (best within min_delta of 0: what
            # differs is noise by the rule's own measure), where the latest is kept
            self.best, self.stale = entry, 0
        elif best > min_delta:
            # a plateau needs a detector: the count starts once the best is measurable
            # (the 3D warm start of 2026-12-02 stopped at 480 iterations with AP 0 at
            # every validation and went back to its first checkpoint, iteration 120)
            self.stale += 1
        if self.best is entry:
            runner.save_checkpoint(str(self.work_dir), self.best_checkpoint.name,
                                   save_optimizer=False, save_param_scheduler=False,
                                   by_epoch=False)
        runner.logger.info(
            f'warm start: val {monitor} {value:.4f} at iteration {runner.iter} (best '
            f'{self.best[monitor]:.4f} at {self.best["iter"]}; {self.stale}/'
            f'{self.warm["patience"]} without a rise above {self.warm["min_delta"]})')
        if self.stale >= self.warm['patience'] and runner.iter >= self.warm.get('min_iters', 0):
            self.stopped = 'plateau'
            runner.train_loop.stop_training = True


def monitor_hook(monitor: WarmStartMonitor):
    """``monitor`` as an mmengine hook (low priority: after the logger's own work)."""
    from mmengine.hooks import Hook

    class _Hook(Hook):
        priority = 'VERY_LOW'

        def after_val_epoch(self, runner, metrics=None):
            monitor.after_val_epoch(runner, metrics)

    return _Hook()


def set_test_cfg(model, changes: dict) -> dict:
    """Apply ``changes`` to the test settings the model's head reads; returns the old
    values (to put back)."""
    model = getattr(model, 'module', model)
    targets = [t for t in (getattr(model, 'test_cfg', None),
                           getattr(getattr(model, 'bbox_head', None), 'test_cfg', None))
               if t is not None]
    if not targets:
        raise AttributeError(f'{type(model).__name__} has no test_cfg to change')
    old = {key: copy.deepcopy(targets[-1].get(key)) for key in changes}
    for target in {id(t): t for t in targets}.values():
        target.update(copy.deepcopy(changes))
    return old


def health_curves(scalars_file, keys=('rank/pos_score_mean', 'rank/bg_above_0.2',
                                      'rank/saturated')) -> Dict[str, list]:
    """``{key: [[iteration, value], ...]}`` of the training-health monitor from a run's
    ``vis_data/scalars.json`` (one JSON object per logged step); keys never logged are
    left out."""
    curves: Dict[str, list] = {}
    path = Path(scalars_file) if scalars_file else None
    if path is None or not path.is_file():
        return curves
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        for key in keys:
            for name in (key, f'train/{key}'):
                if name in row and 'step' in row:
                    curves.setdefault(key, []).append([row['step'], row[name]])
    return curves


def _numba_threads(threads: int) -> None:
    """Let numba's parallel loops (the KITTI metric, rotated IoU) use ``threads`` threads,
    as torch does: validations inside training would otherwise leave a pool of one thread
    per core competing with the training step."""
    try:
        import numba
    except ImportError:
        return
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def train_run(spec: dict) -> dict:
    """Train, validate, test and analyse one run in this process (see the module
    docstring for ``spec``); returns and writes ``work_dir/result.json``.

    A warm start (``spec['warm']`` = ``max_iters``, ``eval_every``, ``patience``,
    ``min_delta``, ``min_iters``, ``monitor``; ``schedule='anneal'``: the decay phase,
    whose rate decays instead of staying constant) trains until its val metric plateaus and
    is tested from its best checkpoint (``result['checkpoint']``); a continuation
    (``load_from`` = that checkpoint) trains ``iters`` iterations. Each test view
    (``test_views``: ``[[name, test_cfg changes], ...]``, the first the headline) is a
    test pass over the same checkpoint: ``result['metrics'][name]``; with ``validate``
    the val split gives ``result['metrics']['val']`` (headline settings).
    """
    import torch
    from mmengine.runner import Runner

    missing = [key for key in REQUIRED if key not in spec]
    if missing:
        raise KeyError(f'job spec lacks {missing}')
    warm = spec.get('warm')
    if warm:
        lacking = [k for k in ('max_iters', 'eval_every', 'patience', 'min_delta', 'monitor')
                   if k not in warm]
        if lacking:
            raise KeyError(f'job spec {spec["name"]}: warm lacks {lacking}')
    work_dir = Path(spec['work_dir'])
    threads = int(spec.get('threads', 1))
    torch.set_num_threads(threads)
    _numba_threads(threads)
    cfg = build_config(spec)
    result = dict(spec=spec, seconds={}, metrics={})

    if spec.get('load_from') and spec.get('gradient_batches'):
        from .gradient_norms import loss_gradient_norms

        start = time.perf_counter()
        result['gradient_norms_at_start'] = loss_gradient_norms(
            cfg, spec['load_from'], spec['gradient_batches'], seed=spec['seed'])
        result['seconds']['gradient_norms'] = time.perf_counter() - start

    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    monitor = WarmStartMonitor(spec['kind'], work_dir, warm)
    runner.register_hook(monitor_hook(monitor))
    runner.train()
    result['seconds']['train'] = time.perf_counter() - start
    result['training'] = training_record(runner)
    result['scalars_file'] = str(Path(runner.log_dir) / 'vis_data' / 'scalars.json')
    result['health'] = health_curves(result['scalars_file'])
    if warm:
        best = monitor.best
        if best is None or not monitor.best_checkpoint.is_file():
            raise RuntimeError(f'warm start {spec["name"]} ended without a validation')
        result['warm'] = dict(history=monitor.history, best_iter=best['iter'],
                              best=best[warm['monitor']], monitor=warm['monitor'],
                              trained_iters=runner.iter, stale=monitor.stale,
                              schedule=warm.get('schedule', 'constant'),
                              stopped=monitor.stopped or 'max_iters')
        result['metrics']['val'] = {k: v for k, v in best.items() if k != 'iter'}
        checkpoint = monitor.best_checkpoint
        runner.load_checkpoint(str(checkpoint), map_location='cpu')
    else:
        checkpoint = Path(cfg.work_dir) / f'iter_{spec["iters"]}.pth'
        if spec.get('validate'):
            if not monitor.history:
                raise RuntimeError(f'{spec["name"]}: training ended without validating')
            result['metrics']['val'] = {k: v for k, v in monitor.history[-1].items()
                                        if k != 'iter'}
    if not checkpoint.is_file():
        raise FileNotFoundError(f'training finished without writing {checkpoint}')
    result['checkpoint'] = str(checkpoint)

    if spec.get('evaluate', True):
        start = time.perf_counter()
        for name, changes in spec.get('test_views') or [['test', {}]]:
            old = set_test_cfg(runner.model, changes)
            result['metrics'][name] = headline_metrics(spec['kind'], runner.test())
            set_test_cfg(runner.model, old)
        result['seconds']['test'] = time.perf_counter() - start

    if spec.get('analyse', True):
        start = time.perf_counter()
        limit = spec.get('analysis_max_images')
        out_dir = work_dir / 'pair_analysis'
        if spec['kind'] == '2d':
            from apps.pairs.analyze_pairs import analyze_pairs
            analysis = analyze_pairs(cfg, str(checkpoint), out_dir, max_images=limit,
                                     progress=False)
        else:
            from apps.pairs.analyze_pairs_3d import analyze_pairs_3d
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


run_job = train_run  # the name tools/compare.py's scheduler used first


def warm_then_continue(warm_spec: dict, continuations: Dict[str, dict],
                       log=print) -> Dict[str, dict]:
    """The warm start (docs/method.md section 9) in one call (``make demo`` uses it):
    train ``warm_spec`` (a focal warm start; with ``warm`` it stops at its val plateau),
    then every continuation from its checkpoint, in this process.

    Args:
        warm_spec: a job spec (see :func:`train_run`).
        continuations: run name -> the spec keys that differ from ``warm_spec`` (at
            least ``config``, ``work_dir``; ``iters`` for the continuation's length);
            ``load_from`` is set to the warm start's checkpoint, ``warm`` dropped.
        log: one line per finished run.

    Returns:
        ``{'warm': result, name: result, ...}``.
    """
    results = {'warm': train_run(warm_spec)}
    log(f'warm start: {warm_spec["work_dir"]} -> {results["warm"]["checkpoint"]}')
    for name, changes in continuations.items():
        spec = {k: v for k, v in warm_spec.items() if k != 'warm'}
        spec.update(changes, name=changes.get('name', name),
                    load_from=results['warm']['checkpoint'])
        results[name] = train_run(spec)
        log(f'{name}: {spec["work_dir"]}')
    return results


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python -m apps.evidence.job JOB_DIR/job.json', file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        raise FileNotFoundError(f'job file {path} does not exist')
    train_run(json.loads(path.read_text()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
