"""``tools/compare.py``'s driver: a profile's plan becomes jobs (warm start, focal and
ranking continuations per pair and seed), the jobs run, the results become the report.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .evidence_data import prepare_data
from .experiments import Pair, Plan, make_plan
from .scheduler import Job, run_jobs

REPO = Path(__file__).resolve().parents[2]


def run_name(pair: Pair, seed: int, run: str) -> str:
    """The job name (and folder, below the work dir) of one run."""
    return f'{pair.name}/seed{seed}/{run}'


def build_jobs(plan: Plan, roots: Dict[str, Path], work_dir: Path,
               pairs: Optional[Sequence[Pair]] = None) -> List[Job]:
    """The jobs of ``plan``: per pair and seed, the focal warm start, then the focal
    continuation and the ranking one (for the ablation, one per loss variant) from its
    last checkpoint."""
    jobs = []
    work_dir = Path(work_dir).resolve()
    for seed in sorted({s for pair in (pairs or plan.pairs) for s in pair.seeds}):
        for pair in pairs or plan.pairs:
            if seed not in pair.seeds:
                continue
            common = dict(kind=pair.kind, cfg_options=dict(pair.cfg_options),
                          data_root=str(roots[pair.data]), seed=seed, iters=pair.iters,
                          analysis_max_images=pair.analysis_max_images, threads=1)
            warm = run_name(pair, seed, 'warm')
            checkpoint = work_dir / warm / 'train' / f'iter_{pair.warm_length}.pth'
            jobs.append(Job(warm, dict(common, name=warm, config=_path(pair.focal_config),
                                       iters=pair.warm_length,
                                       load_from=None, work_dir=str(work_dir / warm),
                                       evaluate=True, analyse=False, gradient_batches=0)))
            continuations = [('focal', pair.focal_config, {})]
            if plan.variants:
                continuations += [(v.name, pair.rank_config, v.loss_cls)
                                  for v in plan.variants]
            else:
                continuations.append(('rank', pair.rank_config, {}))
            for run, config, loss_cls in continuations:
                name = run_name(pair, seed, run)
                options = dict(common['cfg_options'])
                options.update({f'model.bbox_head.loss_cls.{k}': v
                                for k, v in loss_cls.items()})
                jobs.append(Job(name, dict(
                    common, name=name, config=_path(config), cfg_options=options,
                    load_from=str(checkpoint), work_dir=str(work_dir / name),
                    evaluate=True, analyse=True,
                    gradient_batches=plan.gradient_batches), after=[warm]))
    return jobs


def _path(config: str) -> str:
    path = REPO / config
    if not path.is_file():
        raise FileNotFoundError(f'config {path} does not exist')
    return str(path)


def run_comparison(profile: str, work_dir, data_dir, coco128_root, workers: int = 2,
                   only: Optional[Sequence[str]] = None, progress: bool = True,
                   command: str = '', log: Callable[[str], None] = print) -> dict:
    """Prepare the data, run every job of ``profile``, write the report.

    Args:
        profile: ``evidence``, ``ablation``, ``tiny`` or ``tiny-ablation``.
        work_dir: runs go to ``work_dir/<pair>/seed<k>/<run>/``, the report to
            ``work_dir/evidence.{json,md}`` (``ablation.*`` for the ablation) and PNGs.
        data_dir: synthetic sets are written (once) to ``data_dir/{coco,kitti}``.
        coco128_root: coco128 (COCO layout).
        workers: processes training at once.
        only: names of the pairs to run (default: all of the profile).
        progress: progress bars while writing data.
        command: the command line, recorded in the report.

    Returns:
        dict: the report (see :func:`rankdet.evidence.report.write_report`).
    """
    from .report import write_report

    plan = make_plan(profile)
    pairs = list(plan.pairs)
    if only:
        unknown = set(only) - {pair.name for pair in pairs}
        if unknown:
            raise ValueError(f'unknown pairs {sorted(unknown)} for profile {profile}; '
                             f'expected some of {[pair.name for pair in pairs]}')
        pairs = [pair for pair in pairs if pair.name in only]
    work_dir = Path(work_dir)
    started = time.perf_counter()
    roots = prepare_data(plan.data, [pair.data for pair in pairs], data_dir, coco128_root,
                         progress=progress)
    data_seconds = time.perf_counter() - started
    jobs = build_jobs(plan, roots, work_dir, pairs)
    log(f'{profile}: {len(jobs)} runs on {workers} processes; logs in '
        f'{work_dir}/<pair>/seed<k>/<run>/job.log')
    results = run_jobs(jobs, workers=workers, log=log)
    return write_report(plan, pairs, results, work_dir, command=command,
                        seconds=dict(data=data_seconds,
                                     total=time.perf_counter() - started))
