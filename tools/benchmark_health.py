"""Benchmark RankingHealthHook: a training step's time with and without it, in one run.

Usage::

    python tools/benchmark_health.py           # the 2D ranking demo, about 2 minutes on 2 cores
    python tools/benchmark_health.py configs2d/demo/retinanet_r18_fpn_demo_synthetic.py
    python tools/benchmark_health.py --data-root data/synthetic/coco --iters 60 --threads 2

One run of mmengine's Runner on a 2D config (the ranking demo by default, on a small
synthetic set drawn into a temporary folder unless ``--data-root`` names one). After a
warm-up, iterations cycle through three modes, so that the load of a shared machine
falls on each alike:

- ``off``: no health hook (its forward hook on the loss module detached);
- ``on``: the hook as at an ordinary iteration (for a ranking head: the flat check of
  the ranking terms, from label counts);
- ``on+stats``: the hook at a logging iteration (the confidence statistics as well).

It prints the median step time of each mode side by side (timed from the first
``before_train_iter`` hook to the last ``after_train_iter`` hook: forward, backward,
optimiser step and every hook), the time spent inside the health hook's own calls
(measured around them, free of the machine's noise), and the overhead at the config's
logging interval ``k``: ``hook(on) + (hook(on+stats) - hook(on)) / k`` over the step.
The target is below 1 %.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / 'configs2d' / 'demo' / 'rank-retinanet_r18_fpn_demo_synthetic.py'
MODES = ('off', 'on', 'on+stats')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=str(DEFAULT_CONFIG),
                        help='a 2D training config (default: the ranking RetinaNet demo)')
    parser.add_argument('--data-root', default=None,
                        help='the synthetic COCO set (tools/make_synthetic.py coco); '
                             'default: 8 images drawn into a temporary folder')
    parser.add_argument('--iters', type=int, default=30,
                        help='timed iterations per mode (default 30)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed iterations first (default 5)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch intra-op threads (default 1: steady on shared cores)')
    args = parser.parse_args(argv)
    if args.iters < 3 or args.warmup < 1 or args.threads < 1:
        parser.error('--iters must be >= 3, --warmup and --threads >= 1')
    if not Path(args.config).is_file():
        parser.error(f'config {args.config} does not exist')
    return args


def build_hooks(health, modes, warmup, total, report):
    """The three mmengine hooks of the benchmark: a start timer that runs first, the
    mode switch around the real health hook, and a stop timer that runs last."""
    from mmengine.hooks import Hook

    inside = {'seconds': 0.0}

    def timed(function):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                inside['seconds'] += time.perf_counter() - start
        return call

    class StartTimer(Hook):
        priority = 'HIGHEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            inside['seconds'] = 0.0
            self.start = time.perf_counter()

    class HealthSwitch(Hook):
        """Runs the real RankingHealthHook in the modes 'on' and 'on+stats' only."""
        priority = health.priority

        def before_train(self, runner):
            health.before_train(runner)
            callback = health._watched[1]
            self.reader = timed(callback)

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.mode = 'on' if batch_idx < warmup else modes[(batch_idx - warmup) % 3]
            if self.mode == 'off':
                health.detach()
                return
            start = time.perf_counter()
            health.attach(self.reader)
            health.before_train_iter(runner, batch_idx, data_batch)
            health._stats_due = self.mode == 'on+stats'  # the logger's rule, forced
            inside['seconds'] += time.perf_counter() - start

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if self.mode != 'off':
                timed(health.after_train_iter)(runner, batch_idx, data_batch, outputs)

        def after_train(self, runner):
            health.after_train(runner)

    switch = HealthSwitch()

    class StopTimer(Hook):
        priority = 'LOWEST'

        def __init__(self, start):
            self.start_timer = start

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            step = time.perf_counter() - self.start_timer.start
            if batch_idx >= warmup:
                report[switch.mode]['step'].append(step)
                report[switch.mode]['hook'].append(inside['seconds'])
            done = batch_idx + 1
            if done % 10 == 0 or done == total:
                print(f'  iteration {done}/{total} ({switch.mode}: {step * 1e3:.0f} ms)',
                      file=sys.stderr, flush=True)

    start = StartTimer()
    return [start, switch, StopTimer(start)]


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    import torch
    from mmengine.runner import Runner

    import rankdet.registration  # noqa: F401  the stack fixes, before the runner is built
    from apps.runner.cpu_name import cpu_name
    from apps.runner.runner_config import load_config
    from rankdet.engine import RankingHealthHook

    torch.set_num_threads(args.threads)
    total = args.warmup + len(MODES) * args.iters
    with tempfile.TemporaryDirectory(prefix='benchmark_health.') as tmp:
        data_root = args.data_root
        if data_root is None:
            from data_converters.synthetic import CocoShapesConfig, generate_coco

            print('drawing 8 synthetic images ...', file=sys.stderr, flush=True)
            data_root = generate_coco(Path(tmp) / 'coco', CocoShapesConfig(
                num_train=8, num_val=1), progress=False)
        import os
        os.environ['SYNTHETIC_COCO_ROOT'] = f'{Path(data_root).resolve()}/'
        cfg = load_config(args.config, work_dir=str(Path(tmp) / 'work'))
        interval = int(cfg.default_hooks.logger.interval)
        health_cfg = next((dict(h) for h in cfg.get('custom_hooks') or []
                           if h.get('type', '').split('.')[-1] == 'RankingHealthHook'),
                          dict(type='RankingHealthHook'))
        health_cfg.pop('type')
        health = RankingHealthHook(**health_cfg)
        report = {mode: {'step': [], 'hook': []} for mode in MODES}
        cfg.custom_hooks = [h for h in cfg.get('custom_hooks') or []
                            if h.get('type', '').split('.')[-1] != 'RankingHealthHook']
        cfg.train_cfg.max_iters = total
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.default_hooks.logger.interval = total + 1  # no log line inside the timing
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                            interval=total + 1, save_last=False)
        cfg.log_level = 'WARNING'
        cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
        runner = Runner.from_cfg(cfg)
        for hook in build_hooks(health, MODES, args.warmup, total, report):
            runner.register_hook(hook)
        print(f'{total} iterations of {Path(args.config).name} ({args.warmup} warm-up, then '
              f'{"/".join(MODES)} in turn) ...', file=sys.stderr, flush=True)
        runner.train()

    step = {m: statistics.median(report[m]['step']) for m in MODES}
    hook = {m: statistics.median(report[m]['hook']) for m in MODES}
    amortised = hook['on'] + (hook['on+stats'] - hook['on']) / interval
    measured = (step['on'] + (step['on+stats'] - step['on']) / interval) / step['off']
    head = type(health._watched[0]).__name__
    print(f'\nRankingHealthHook on {Path(args.config).name} (reads {head}), '
          f'{args.iters} iterations per mode, {args.threads} thread(s), {cpu_name()}')
    print('| mode | step time (median) | inside the hook (median) |')
    print('|---|---|---|')
    for mode in MODES:
        inside = '-' if mode == 'off' else f'{hook[mode] * 1e3:.3f} ms'
        print(f'| {mode} | {step[mode] * 1e3:.1f} ms | {inside} |')
    print(f'\nAt the config\'s logging interval ({interval}): the hook costs '
          f'{amortised * 1e3:.3f} ms per step = {100 * amortised / step["off"]:.3f} % of a '
          f'step without it (target < 1 %); step time with / without the hook, as '
          f'measured: {measured:.4f} (machine noise included).')
    return dict(step=step, hook=hook, interval=interval,
                overhead=amortised / step['off'], ratio=measured)


if __name__ == '__main__':
    main()
