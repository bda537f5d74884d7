"""``make demo`` (tools/demo.py): data, toy comparison, the 2D and 3D warm-start-then-
ranking chains, their metrics side by side, pictures and ``summary.json``, printed as
one screen of text.

The lengths below were measured on two CPU cores (see :mod:`apps.demo.demo_data` for
the data settings); the ``tiny`` profile runs the same pipeline in about a minute for the
tests.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterable

from .demo_data import DEMO_COCO
from .protocol import REPO, Chain

CONFIGS_2D = 'configs2d/evidence'
CONFIGS_3D = 'configs3d'


def shapes_options(coco=DEMO_COCO) -> tuple:
    """``--cfg-options`` that fit the evidence RetinaNet to the demo's shapes: their
    classes, images shown at their own size (at most 128 px; the evidence set is shown
    at short side 160) and anchors from 32 px (``octave_base_scale`` 4, RetinaNet's
    default; the evidence set's smaller shapes use 16 px)."""
    classes = [c['name'] for c in coco.categories]
    options = [('model.bbox_head.num_classes', len(classes)),
               ('model.bbox_head.anchor_generator.octave_base_scale', 4)]
    # the Resize step of each pipeline (the evidence configs: train step 2, test step 1)
    for loader, resize in (('train_dataloader', 2), ('val_dataloader', 1),
                           ('test_dataloader', 1)):
        options += [(f'{loader}.dataset.metainfo.classes', classes),
                    (f'{loader}.dataset.pipeline.{resize}.scale', coco.max_size)]
    return tuple(options)


def check_resize_steps(chain: Chain) -> None:
    """Fail early, naming the step, if an option of :func:`shapes_options` would set the
    scale of a pipeline step that is not the ``Resize`` it means."""
    from mmengine.config import Config

    for config in (chain.focal_config, chain.rank_config):
        cfg = Config.fromfile(str(REPO / config))
        for key, _ in chain.cfg_options:
            if key.endswith('.scale') and '.pipeline.' in key:
                loader, _, _, index, _ = key.split('.')
                step = cfg[loader].dataset.pipeline[int(index)]
                if step['type'] != 'Resize':
                    raise ValueError(f'{config}: {loader} pipeline step {index} is '
                                     f'{step["type"]}, not the Resize that the demo option '
                                     f'{key} means; update shapes_options()')


RETINANET = dict(kind='2d', focal_config=f'{CONFIGS_2D}/retinanet_r18-w32_fpn_synthetic-160.py',
                 rank_config=f'{CONFIGS_2D}/rank-retinanet_r18-w32_fpn_synthetic-160.py')
SASSD = dict(
    kind='3d', focal_config=f'{CONFIGS_3D}/sassd-lite_pswarp_cpu-demo-near_synthetic-3d-car.py',
    rank_config=f'{CONFIGS_3D}/rank-sassd-lite_pswarp_cpu-demo-near_synthetic-3d-car.py')
DESCRIPTIONS = {'2d': 'RetinaNet, ResNet-18 (half width) FPN (the evidence configs), images '
                      'at their own size',
                '3d': 'SA-SSD (PSWarp) at CPU-demo size, 25.6 x 32 m, 0.1 m voxels'}

# Lengths for 10 minutes on two cores (measured one-thread costs on 2026-12-08, quiet: the
# 2D RetinaNet 0.08 s per iteration of 4 images, 2D chain 160 s; the 3D SA-SSD 0.4 s per
# iteration of 2 frames, 3D chain 450 s, start-up and numba compilation included).
# The 3D continuation fine-tunes at a tenth of the warm start's peak learning rate: its
# schedule restarts at the peak (3e-3) after the warm start has annealed to 3e-6, and in
# 80 iterations that restart undoes the warm start (demo split, 2026-12-08, Car 3D / BEV
# AP40 moderate: warm start 46.0 / 69.6; focal continued at 3e-3 27.5 / 56.3; ranking at
# 3e-3 4.6 / 12.3; ranking at 3e-4 61.9 / 78.2). Chosen on the demo's own held-out split:
# the demo shows, `tools/compare.py` measures.
PROFILES: Dict[str, Dict[str, Chain]] = {
    'demo': {
        '2d': Chain(**RETINANET, warm_iters=1400, rank_iters=400,
                    cfg_options=shapes_options(), analysis_max_images=100),
        '3d': Chain(**SASSD, warm_iters=900, rank_iters=80, analysis_max_images=20,
                    rank_cfg_options=(('optim_wrapper.optimizer.lr', 3e-4),)),
    },
    'tiny': {
        '2d': Chain(**RETINANET, warm_iters=2, rank_iters=2,
                    cfg_options=shapes_options() + (('train_dataloader.batch_size', 2),),
                    analysis_max_images=2),
        '3d': Chain(**SASSD, warm_iters=2, rank_iters=2, analysis_max_images=1),
    },
}
PICTURE_SCORE_THR = 0.3


@contextlib.contextmanager
def output_to(log_path: Path):
    """Send everything written to this process's stdout and stderr (Python's and C++'s:
    open3d, mmengine's loggers) to ``log_path`` while the block runs."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(log_path, 'a') as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def _print(text: str = '') -> None:
    print(text, flush=True)


def headline_of(result: dict) -> dict:
    """The test metrics of a job's ``result.json``: its only ones, or, where the job
    keeps them per test view, those of the first view (``test`` by default)."""
    metrics = result['metrics']
    views = result['spec'].get('test_views') or [['test', {}]]
    first = metrics.get(views[0][0])
    return first if isinstance(first, dict) else metrics


def metric_table(title: str, warm: dict, rank: dict, unit: str = '') -> list:
    """Lines of a side-by-side table: the focal warm start's and the ranking run's
    metrics on the held-out split."""
    levels = {'easy': 0, 'moderate': 1, 'hard': 2}

    def order(key):  # AP, AP50, AP75; KITTI: 3D before BEV, easy, moderate, hard
        return (key.split('_AP')[0], levels.get(key.rsplit('_', 1)[-1], 0), key)
    lines = [f'  {title:<30} {"focal warm start":>17} {"+ ranking losses":>17}']
    for key in sorted(warm, key=order):
        lines.append(f'  {key + unit:<30} {warm[key]:17.3f} {rank.get(key, math.nan):17.3f}')
    return lines


def run_demo(stages: Iterable[str], data_root, work_dir, profile: str = 'demo',
             workers: int = 2, say: Callable[[str], None] = _print) -> dict:
    """Run the demo's ``stages`` (``data``, ``core``, ``2d``, ``3d``); returns the summary
    written to ``work_dir/summary.json`` (for the chains that ran)."""
    from rankdet.atomic_write import atomic_write_json

    from .demo_data import demo_sets, settings_line

    if profile not in PROFILES:
        raise ValueError(f'profile must be one of {sorted(PROFILES)}, got {profile!r}')
    stages = list(stages)
    data_root, work_dir = Path(data_root), Path(work_dir)
    started = time.perf_counter()
    say(f'rankdet demo ({profile}): the ranking losses of RankDetNet in place of focal '
        f'loss, on the CPU. Logs: {work_dir}/<2d|3d>/<warm|rank>/job.log')
    summary: dict = {}

    roots = dict(coco=data_root / 'coco', kitti=data_root / 'kitti')
    if 'data' in stages:
        say('=== data: the synthetic demo sets ===')
        t = time.perf_counter()
        roots = demo_sets(data_root, profile)
        for kind in ('coco', 'kitti'):
            say(f'  {settings_line(kind, profile)}')
        say(f'  written to {data_root} ({time.perf_counter() - t:.0f} s)')

    if 'core' in stages:
        from apps.toy.toy_comparison import compare_toy_losses

        say('=== core: the losses on a toy scorer (reverse-pair ratios, Table 3) ===')
        say(f'  {"trained with":<28} {"F-B":>6} {"P-N":>6} {"P-P":>6}   (lower is better)')
        for name, r in compare_toy_losses():
            say(f'  {name:<28} {r["F-B"]:6.3f} {r["P-N"]:6.3f} {r["P-P"]:6.3f}')

    chains = {kind: chain for kind, chain in PROFILES[profile].items() if kind in stages}
    if chains:
        summary.update(_run_chains(chains, roots, work_dir, workers, say))
    summary['seconds'] = round(time.perf_counter() - started, 1)
    summary['profile'] = profile
    work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(work_dir / 'summary.json', summary, indent=1, sort_keys=True)
    say(f'demo finished in {summary["seconds"]:.0f} s; figures in {work_dir / "summary.json"}')
    return summary


def _run_chains(chains: Dict[str, Chain], roots: dict, work_dir: Path, workers: int,
                say) -> dict:
    from .pictures import draw_2d, draw_3d
    from .protocol import HEALTH_KEYS, run_chains

    for kind, root, tool in (('2d', roots['coco'], 'coco'), ('3d', roots['kitti'], 'kitti')):
        if kind in chains and not (root / 'SYNTHETIC.json').is_file():
            raise FileNotFoundError(f'{root} holds no demo set; run the data stage first '
                                    f'(tools/demo.py --stages data) or tools/make_synthetic.py '
                                    f'{tool} --preset demo')
    say('=== train: a focal warm start, then the ranking losses from its checkpoint ===')
    for kind, chain in chains.items():
        tuned = ', '.join(f'{key.split(".")[-1]} {value:g}'
                          for key, value in chain.rank_cfg_options)
        say(f'  {kind}: {DESCRIPTIONS[kind]}; {chain.warm_iters} focal + {chain.rank_iters} '
            f'ranking iterations' + (f' (ranking at {tuned})' if tuned else ''))
    if '2d' in chains:
        check_resize_steps(chains['2d'])
    data_roots = {'2d': roots['coco'], '3d': roots['kitti']}
    follower_last: Dict[str, dict] = {}
    results = run_chains(chains, data_roots, work_dir, workers, say,
                         last_values=follower_last)

    say('=== results on the held-out demo split ===')
    summary = {}
    for kind in chains:
        warm, rank = (dict(results[f'{kind}/{run}']) for run in ('warm', 'rank'))
        for result in (warm, rank):
            result['metrics'] = headline_of(result)
            if kind == '3d':  # the class, as in the KITTI metric's own names
                result['metrics'] = {f'Car_{k}': v for k, v in result['metrics'].items()}
        unit = '' if kind == '2d' else ' %'
        title = '2D RetinaNet, COCO bbox' if kind == '2d' else '3D SA-SSD, KITTI R40'
        for line in metric_table(title, warm['metrics'], rank['metrics'], unit):
            say(line)
        health = {short: follower_last.get(f'{kind}/rank', {}).get(key)
                  for key, short in HEALTH_KEYS.items()}
        if any(value is not None for value in health.values()):
            say('  training health at the end of the ranking run: ' + ', '.join(
                f'{k} {v:.3g}' for k, v in health.items() if v is not None))
        summary[kind] = dict(warm_start=warm['metrics'], ranking=rank['metrics'],
                             health={k: v for k, v in health.items() if v is not None},
                             iterations=dict(warm_start=warm['spec']['iters'],
                                             ranking=rank['spec']['iters']),
                             figure3=rank.get('pairs', {}).get('figures', {}))

    say('=== pictures (ground truth green, predictions red with scores) ===')
    for kind in chains:
        rank = results[f'{kind}/rank']
        out = work_dir / kind / 'pictures'
        draw = draw_2d if kind == '2d' else draw_3d
        with output_to(work_dir / kind / 'pictures.log'):
            paths = draw(rank['spec'], rank['checkpoint'], out, score_thr=PICTURE_SCORE_THR)
        summary[kind]['pictures'] = [str(p) for p in paths]
        say(f'  {kind}: ' + ', '.join(str(p) for p in paths))
        figure3 = summary[kind]['figure3']
        if figure3:
            say(f'  {kind} Figure 3 (score distributions): ' + ', '.join(figure3.values()))
    return summary
