"""``make demo``'s training: the paper's protocol, small. A focal warm start, then the
ranking losses from its checkpoint (``load_from``), for the 2D RetinaNet and the 3D
SA-SSD, the 2D and 3D chains on two processes at once.

The runs are ``tools/compare.py``'s jobs (:mod:`apps.evidence.job`: train, test,
pair analysis, ``result.json``; :mod:`apps.evidence.scheduler`: one process per job,
each after the job it needs), with the evidence configs; only the data and the lengths
are the demo's. While they run, the loss lines of their logs are printed, condensed
(every log line, environment and config dumps included, stays in each run's
``job.log``).
"""
from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Chain:
    """A focal warm start and its ranking continuation.

    Attributes:
        kind: ``2d`` (mmdet, COCO metric) or ``3d`` (mmdet3d, KITTI metric).
        focal_config, rank_config: configs (paths from the repository root); the ranking
            one differs from the focal one in the loss only.
        warm_iters, rank_iters: lengths of the two runs (each a fresh schedule).
        cfg_options: ``--cfg-options`` for both runs.
        analysis_max_images: pair analysis (Figure 3) on this many test samples.
    """

    kind: str
    focal_config: str
    rank_config: str
    warm_iters: int
    rank_iters: int
    cfg_options: tuple = ()
    analysis_max_images: Optional[int] = None
    rank_cfg_options: tuple = ()


def chain_jobs(name: str, chain: Chain, data_root, work_dir, seed: int = 0) -> list:
    """The two :class:`apps.evidence.scheduler.Job` of a chain: ``<name>/warm``
    (focal, from random weights) and ``<name>/rank`` (ranking losses, from the warm
    start's last checkpoint), in ``work_dir/<name>/{warm,rank}/``."""
    from apps.evidence.scheduler import Job

    work_dir = Path(work_dir).resolve()
    common = dict(kind=chain.kind, cfg_options=dict(chain.cfg_options),
                  data_root=str(Path(data_root).resolve()), seed=seed, threads=1,
                  analysis_max_images=chain.analysis_max_images, gradient_batches=0)
    warm, rank = f'{name}/warm', f'{name}/rank'
    checkpoint = work_dir / warm / 'train' / f'iter_{chain.warm_iters}.pth'
    return [
        Job(warm, dict(common, name=warm, config=str(REPO / chain.focal_config),
                       iters=chain.warm_iters, load_from=None, work_dir=str(work_dir / warm),
                       evaluate=True, analyse=False)),
        Job(rank, dict(common, name=rank, config=str(REPO / chain.rank_config),
                       cfg_options=dict(chain.cfg_options + chain.rank_cfg_options),
                       iters=chain.rank_iters, load_from=str(checkpoint),
                       work_dir=str(work_dir / rank), evaluate=True, analyse=True),
            after=[warm]),
    ]


# ------------------------------------------------------------------ the loss lines
_ITER = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')
_VALUE = re.compile(r'([\w/.]+): (-?[\d.]+(?:e[-+]?\d+)?)')
# training-health values (RankingHealthHook), shortened for the screen
HEALTH_KEYS = {'rank/pos_score_mean': 'pos_score', 'rank/bg_above_0.2': 'bg>0.2',
               'rank/saturated': 'saturated'}


def parse_iter_line(line: str) -> Optional[dict]:
    """``{'iter', 'max_iters', <name>: value}`` of an mmengine training log line
    (``... Iter(train) [ 40/400]  lr: ...  loss: 1.2  loss_cls: 0.8 ...``), else None."""
    match = _ITER.search(line)
    if not match:
        return None
    values = {key: float(value) for key, value in _VALUE.findall(line[match.end():])}
    values.update(iter=int(match.group(1)), max_iters=int(match.group(2)))
    return values


def format_iter_line(values: dict) -> str:
    """A loss line for the screen: total loss and its terms (``loss_`` and ``rank_``
    dropped from their names), the training-health values, seconds per iteration."""
    terms = [f'{key[5:].replace("rank_", "")} {value:.3g}' for key, value in values.items()
             if key.startswith('loss_')]
    loss = values.get('loss', math.nan)
    text = f'iter {values["iter"]:>4}/{values["max_iters"]:<4} loss {loss:.3g}'
    if terms:
        text += ' (' + ', '.join(terms) + ')'
    health = [f'{short} {values[key]:.2g}' for key, short in HEALTH_KEYS.items()
              if key in values]
    if health:
        text += ' | ' + ', '.join(health)
    if 'time' in values:
        text += f' | {values["time"]:.2g} s/it'
    return text


class LogFollower(threading.Thread):
    """Prints condensed loss lines from the ``job.log`` of running jobs, at most
    ``lines_per_job`` per job (spread evenly, the last iteration always), until
    :meth:`stop`."""

    def __init__(self, jobs, print_fn: Callable[[str], None] = print,
                 lines_per_job: int = 6, poll_seconds: float = 1.0):
        super().__init__(daemon=True)
        self.jobs = list(jobs)
        self.last: Dict[str, dict] = {}  # job name -> values of its latest log line
        self.print_fn = print_fn
        self.lines_per_job = lines_per_job
        self.poll_seconds = poll_seconds
        self._stop_event = threading.Event()
        self._offsets: Dict[str, int] = {}
        self._next: Dict[str, int] = {}

    def stop(self):
        self._stop_event.set()
        self.join()
        self.poll()  # the lines written since the last look

    def run(self):
        while not self._stop_event.wait(self.poll_seconds):
            self.poll()

    def poll(self):
        for job in self.jobs:
            path = job.work_dir / 'job.log'
            if not path.is_file():
                continue
            with open(path, errors='replace') as f:
                f.seek(self._offsets.get(job.name, 0))
                text = f.read()
            # only complete lines; the rest is read again next time
            end = text.rfind('\n') + 1
            self._offsets[job.name] = self._offsets.get(job.name, 0) + len(
                text[:end].encode('utf-8', errors='replace'))
            for line in text[:end].splitlines():
                values = parse_iter_line(line)
                if values is None:
                    continue
                self.last[job.name] = values
                step = max(1, math.ceil(values['max_iters'] / self.lines_per_job))
                due = self._next.get(job.name, step)
                if values['iter'] >= due or values['iter'] == values['max_iters']:
                    self._next[job.name] = (values['iter'] // step + 1) * step
                    self.print_fn(f'  {job.name:<8} {format_iter_line(values)}')


def run_chains(chains: Dict[str, Chain], data_roots: Dict[str, Path], work_dir,
               workers: int = 2, print_fn: Callable[[str], None] = print,
               lines_per_job: int = 6, last_values: Optional[dict] = None
               ) -> Dict[str, dict]:
    """Run every chain (warm start, then ranking continuation) on ``workers`` processes,
    printing a line per run started and finished and the condensed loss lines; returns
    ``{'<name>/warm': result, '<name>/rank': result}`` (``result.json`` of each job).
    ``last_values`` (a dict, if given) receives each job's last logged values."""
    from apps.evidence.scheduler import run_jobs

    jobs = [job for name, chain in chains.items()
            for job in chain_jobs(name, chain, data_roots[name], work_dir)]
    for job in jobs:
        if not Path(job.spec['config']).is_file():
            raise FileNotFoundError(f'demo config {job.spec["config"]} does not exist')
    follower = LogFollower(jobs, print_fn, lines_per_job)
    follower.start()
    started = time.perf_counter()

    def log(message: str):
        # the scheduler's start/done lines, without its own clock column
        print_fn('  ' + re.sub(r'^\[\s*[\d:]+\]\s*', '', message)
                 + f'  [{time.perf_counter() - started:.0f} s]')
    try:
        results = run_jobs(jobs, workers=workers, log=log)
    finally:
        follower.stop()
        if last_values is not None:
            last_values.update(follower.last)
    return results
