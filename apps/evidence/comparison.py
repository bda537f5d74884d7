"""``tools/compare.py``'s driver: a profile's plan becomes jobs (one converged warm start
per data set, a continuation per seed and variant, the best 2D extension on SA-SSD), the
jobs run, the results become the report.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .evidence_data import prepare_data
from .experiments import (BEST, EXTENSIONS, MONITOR, PAPER_TEST_2D, Pair, Plan, Variant,
                          choose_best, make_plan)
from .scheduler import Job, run_jobs

REPO = Path(__file__).resolve().parents[2]


def run_name(pair: Pair, seed: int, run: str) -> str:
    """The job name (and folder, below the work dir) of one continuation."""
    return f'{pair.name}/seed{seed}/{run}'


def warm_name(pair: Pair) -> str:
    """The job name (and folder) of a pair's warm start, shared by seeds and variants."""
    return f'{pair.name}/warm'


def anneal_name(pair: Pair) -> str:
    """The job name (and folder) of the warm start's decay phase."""
    return f'{pair.name}/warm-anneal'


def start_name(pair: Pair) -> str:
    """The job whose ``best.pth`` starts every continuation: the decay phase if the
    warm start has one, else the warm start."""
    return anneal_name(pair) if pair.warm.anneal_iters else warm_name(pair)


def test_settings(pair: Pair) -> dict:
    """The headline test settings (``test_cfg`` changes) and views of ``pair``'s runs."""
    return dict(test_cfg=dict(PAPER_TEST_2D) if pair.kind == '2d' else {},
                test_views=[['test', {}], ['test_thr0', {'score_thr': 0.0}]])


def warm_job(pair: Pair, roots: Dict[str, Path], work_dir: Path) -> Job:
    """The focal warm start of ``pair``: trained at a constant rate until its val AP
    plateaus (its spec does not name the decay phase: see :func:`anneal_job`)."""
    name = warm_name(pair)
    warm = asdict(pair.warm)
    seed = warm.pop('seed')
    warm.pop('anneal_iters')
    return Job(name, dict(
        name=name, kind=pair.kind, config=_path(pair.focal_config),
        cfg_options=dict(pair.cfg_options), data_root=str(roots[pair.data]),
        test_root=str(roots[pair.data + '-test']), seed=seed, iters=pair.warm.max_iters,
        warm=dict(warm, monitor=MONITOR[pair.kind]), load_from=None,
        work_dir=str(work_dir / name), validate=True, evaluate=True, analyse=False,
        gradient_batches=0, health_hook=True, threads=1, **test_settings(pair)))


def anneal_job(pair: Pair, roots: Dict[str, Path], work_dir: Path) -> Job:
    """The warm start's decay phase: focal loss from its best checkpoint for
    ``anneal_iters`` iterations with a warm-up and cosine decay of the config's rate,
    validated every ``eval_every`` iterations, its best checkpoint kept (it runs to the
    end: ``min_iters`` is its length; the report reads its plateau from the history)."""
    warm = warm_job(pair, roots, work_dir)
    name = anneal_name(pair)
    length = pair.warm.anneal_iters
    rule = dict(warm.spec['warm'], schedule='anneal', max_iters=length, min_iters=length)
    spec = dict(warm.spec, name=name, iters=length, warm=rule,
                load_from=str(Path(warm.spec['work_dir']) / 'best.pth'),
                work_dir=str(work_dir / name))
    return Job(name, spec, after=[warm.name])


def continuation_spec(plan: Plan, pair: Pair, seed: int, run: str, variant: Variant,
                      roots: Dict[str, Path], work_dir: Path, checkpoint: Path) -> dict:
    """The spec of one continuation: ``variant``'s loss from the warm checkpoint."""
    name = run_name(pair, seed, run)
    options = dict(pair.cfg_options)
    options.update({f'model.bbox_head.loss_cls.{k}': v for k, v in variant.loss_cls.items()})
    if variant.pointwise:
        options['model.bbox_head.loss_pointwise'] = focal_loss_of(pair.focal_config)
    config = pair.focal_config if variant.loss == 'focal' else pair.rank_config
    if pair.lr_factor != 1.0:
        options['optim_wrapper.optimizer.lr'] = learning_rate_of(config) * pair.lr_factor
    return dict(
        name=name, kind=pair.kind, config=_path(config), cfg_options=options,
        data_root=str(roots[pair.data]), test_root=str(roots[pair.data + '-test']),
        seed=seed, iters=pair.iters, load_from=str(checkpoint), work_dir=str(work_dir / name),
        variant=variant.name, validate=True, evaluate=True, analyse=True,
        analysis_max_images=pair.analysis_max_images,
        gradient_batches=plan.gradient_batches, health_hook=True, threads=1,
        **test_settings(pair))


@lru_cache(maxsize=None)
def learning_rate_of(config: str) -> float:
    """The optimizer's learning rate in ``config``."""
    from mmengine.config import Config

    return float(Config.fromfile(_path(config)).optim_wrapper.optimizer.lr)


def focal_loss_of(config: str) -> dict:
    """The focal loss (``model.bbox_head.loss_cls``) of a focal config, as a dict."""
    from mmengine.config import Config

    loss = Config.fromfile(_path(config)).model.bbox_head.loss_cls.to_dict()
    if 'Focal' not in str(loss.get('type')):
        raise ValueError(f'{config}: its loss_cls is not a focal loss: {loss}')
    return loss


def build_jobs(plan: Plan, roots: Dict[str, Path], work_dir: Path,
               pairs: Optional[Sequence[Pair]] = None) -> List[Job]:
    """The jobs of ``plan``: per pair one warm start and its decay phase, then per seed
    one continuation per variant from the decay phase's best checkpoint. A ``BEST`` run
    waits for the 2D pair's extensions and trains the one :func:`choose_best` picks on
    their val AP."""
    jobs = []
    work_dir = Path(work_dir).resolve()
    pairs = list(pairs or plan.pairs)
    for pair in pairs:
        jobs.append(warm_job(pair, roots, work_dir))
    for pair in pairs:
        if pair.warm.anneal_iters:
            jobs.append(anneal_job(pair, roots, work_dir))
    for seed in sorted({s for pair in pairs for s in pair.seeds}):
        for pair in pairs:
            if seed not in pair.seeds:
                continue
            warm = start_name(pair)
            checkpoint = work_dir / warm / 'best.pth'
            for run in pair.variants:
                if run == BEST:
                    continue
                variant = plan.variant(run)
                if not variant.supports(pair.kind):
                    raise ValueError(f'{pair.name}: variant {run} has no {pair.kind} form')
                jobs.append(Job(run_name(pair, seed, run), continuation_spec(
                    plan, pair, seed, run, variant, roots, work_dir, checkpoint),
                    after=[warm]))
    for pair in pairs:  # last: they wait for every 2D extension run
        if BEST not in pair.variants:
            continue
        source = _best_source(plan, pairs, pair)
        candidates = [v for v in EXTENSIONS if v in source.variants]
        needs = [run_name(source, s, v) for s in source.seeds for v in candidates]
        for seed in pair.seeds:
            name = run_name(pair, seed, BEST)
            resolve = partial(_resolve_best, plan, pair, seed, source, candidates, roots,
                              work_dir)
            jobs.append(Job(name, dict(name=name, work_dir=str(work_dir / name)),
                            after=[start_name(pair)] + needs, resolve=resolve))
    return jobs


def _best_source(plan: Plan, pairs: Sequence[Pair], pair: Pair) -> Pair:
    sources = [p for p in pairs if p.kind == '2d' and any(v in EXTENSIONS for v in p.variants)]
    if not sources:
        raise ValueError(f'{pair.name}: its {BEST} run needs a 2D pair with extensions '
                         f'(run it together with {[p.name for p in plan.pairs if p.kind == "2d"]})')
    return sources[0]


def best_choice(source: Pair, candidates: Sequence[str], results: Dict[str, dict],
                kind: str) -> dict:
    """:func:`choose_best` on the val AP of ``source``'s extension runs in ``results``."""
    val_ap = {v: [results[run_name(source, s, v)]['metrics']['val'][MONITOR[source.kind]]
                  for s in source.seeds] for v in candidates}
    return dict(choose_best(val_ap, kind, candidates), source=source.name)


def _resolve_best(plan, pair, seed, source, candidates, roots, work_dir, results):
    choice = best_choice(source, candidates, results, pair.kind)
    spec = continuation_spec(plan, pair, seed, BEST, plan.variant(choice['chosen']), roots,
                             work_dir, work_dir / start_name(pair) / 'best.pth')
    spec['choice'] = choice
    return spec


def _path(config: str) -> str:
    path = REPO / config
    if not path.is_file():
        raise FileNotFoundError(f'config {path} does not exist')
    return str(path)


def run_comparison(profile: str, work_dir, data_dir, workers: int = 2,
                   only: Optional[Sequence[str]] = None, progress: bool = True,
                   command: str = '', log: Callable[[str], None] = print) -> dict:
    """Prepare the data, run every job of ``profile``, write the report.

    Args:
        profile: ``evidence``, ``ablation``, ``tiny`` or ``tiny-ablation``.
        work_dir: warm starts go to ``work_dir/<pair>/warm/``, runs to
            ``work_dir/<pair>/seed<k>/<run>/``, the report to ``work_dir/<profile>.
            {json,md}`` and its PNGs.
        data_dir: synthetic sets are written (once) to ``data_dir/{coco,kitti}`` (train
            and val) and ``data_dir/{coco,kitti}-test``.
        workers: processes training at once.
        only: names of the pairs to run (default: all of the profile).
        progress: progress bars while writing data.
        command: the command line, recorded in the report.

    Returns:
        dict: the report (see :func:`apps.evidence.report.write_report`).
    """
    from .report import write_report

    plan = make_plan(profile)
    pairs = list(plan.pairs)
    if only:
        unknown = set(only) - {pair.name for pair in pairs}
        if unknown:
            raise ValueError(f'unknown pairs {sorted(unknown)} for profile {profile}; '
                             f'expected some of {[pair.name for pair in pairs]}')
        selected = [pair for pair in pairs if pair.name in only]
        if any(BEST in p.variants for p in selected) and not any(
                p.kind == '2d' for p in selected):
            # the best extension is chosen on the 2D val split: its runs come too
            selected = [p for p in pairs if p.kind == '2d'][:1] + selected
            log(f'{selected[0].name} runs too: {BEST} is chosen on its val split')
        pairs = selected
    work_dir = Path(work_dir)
    started = time.perf_counter()
    roots = prepare_data(plan.data, [pair.data for pair in pairs], data_dir,
                         progress=progress)
    data_seconds = time.perf_counter() - started
    jobs = build_jobs(plan, roots, work_dir, pairs)
    log(f'{profile}: {len(jobs)} runs on {workers} processes; logs in '
        f'{work_dir}/<pair>/seed<k>/<run>/job.log')
    results = run_jobs(jobs, workers=workers, log=log)
    return write_report(plan, pairs, results, work_dir, command=command,
                        seconds=dict(data=data_seconds,
                                     total=time.perf_counter() - started))
