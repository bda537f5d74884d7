"""Run ``tools/compare.py``'s jobs as separate processes, a few at a time, each after the
jobs it needs (a continuation after its warm start).

Each job runs ``python -m apps.evidence.job JOB_DIR/job.json`` with one compute thread
(on a small machine two one-thread processes train faster than one two-thread process)
and writes its output to ``JOB_DIR/job.log``. A job whose ``result.json`` records the same
spec is not run again, so an interrupted comparison resumes where it stopped (a job whose
spec depends on other results is checked once they are in). When a job
fails, the others still running are stopped and the error names the job and its log.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .job import write_json


@dataclass
class Job:
    """A job: its name, spec (see :mod:`apps.evidence.job`) and the jobs it needs.

    ``resolve``, if given, makes the spec from the results of the ``after`` jobs once
    they are done (the best 2D extension's runs on SA-SSD); until then ``spec`` needs
    only ``work_dir``."""

    name: str
    spec: dict
    after: List[str] = field(default_factory=list)
    resolve: Optional[Callable[[Dict[str, dict]], dict]] = None

    @property
    def work_dir(self) -> Path:
        return Path(self.spec['work_dir'])

    def finished_result(self) -> Optional[dict]:
        """The result of an earlier run of exactly this spec, if there is one."""
        path = self.work_dir / 'result.json'
        if not path.is_file():
            return None
        try:
            result = json.loads(path.read_text())
        except ValueError:
            return None
        return result if result.get('spec') == json.loads(json.dumps(self.spec)) else None


class JobFailed(RuntimeError):
    """A job exited with an error."""


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return '\n'.join(path.read_text(errors='replace').splitlines()[-lines:])
    except OSError:
        return '(no log)'


def run_jobs(jobs: Sequence[Job], workers: int = 2, log: Callable[[str], None] = print,
             python: str = sys.executable, poll_seconds: float = 0.5) -> Dict[str, dict]:
    """Run ``jobs`` on ``workers`` processes, each once its ``after`` jobs are done (jobs
    that others need first, then in list order); returns name -> result.

    Raises:
        ValueError: unknown or circular dependencies, duplicate names.
        JobFailed: a job exited non-zero (its log's tail is in the message).
    """
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f'duplicate job names in {names}')
    unknown = {dep for job in jobs for dep in job.after if dep not in names}
    if unknown:
        raise ValueError(f'jobs depend on unknown jobs {sorted(unknown)}')

    results: Dict[str, dict] = {}
    # jobs that others wait for go first (a warm start before the runs of other pairs),
    # so that long chains do not leave a process idle at the end; the order is kept
    # otherwise
    needed = {dep for job in jobs for dep in job.after}
    pending = sorted(jobs, key=lambda job: job.name not in needed)
    ready_specs = set()

    def ready(job: Job) -> bool:
        """Whether ``job`` can go (its spec resolved); a job done earlier with the same
        spec goes to ``results`` at once."""
        if not all(dep in results for dep in job.after):
            return False
        if job.name not in ready_specs:
            if job.resolve is not None:
                job.spec = job.resolve(results)
            ready_specs.add(job.name)
            earlier = job.finished_result()
            if earlier is not None:
                results[job.name] = earlier
                pending.remove(job)
                log(f'{job.name}: done earlier, result kept ({job.work_dir / "result.json"})')
                return False
        return True

    running: Dict[str, tuple] = {}
    total, started_all, launched = len(pending), time.perf_counter(), 0
    # one thread per process, numba's too (the KITTI metric's parallel loops would
    # otherwise start a pool of one thread per core in every job)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', NUMBA_NUM_THREADS='1')

    def stop_all():
        for process, _, _, _ in running.values():
            process.terminate()
        for process, _, handle, _ in running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            handle.close()

    def terminated(signum, frame):  # `kill` of the driver stops its runs too
        raise KeyboardInterrupt(f'signal {signum}')

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, terminated)
    try:
        while pending or running:
            progressed = True
            while progressed:  # results kept from earlier runs can unlock others
                progressed = False
                for job in list(pending):
                    kept = len(results)
                    if not ready(job):
                        progressed |= len(results) > kept
                        continue
                    if len(running) >= workers:
                        break
                    job.work_dir.mkdir(parents=True, exist_ok=True)
                    spec_file = job.work_dir / 'job.json'
                    write_json(spec_file, job.spec)
                    log_file = job.work_dir / 'job.log'
                    handle = open(log_file, 'w')
                    process = subprocess.Popen(
                        [python, '-m', 'apps.evidence.job', str(spec_file)],
                        stdout=handle, stderr=subprocess.STDOUT, env=env)
                    running[job.name] = (process, job, handle, time.perf_counter())
                    pending.remove(job)
                    launched += 1
                    log(f'[{_clock(started_all)}] start {job.name} ({launched}/{total})')
            if pending and not running:
                stuck = {job.name: job.after for job in pending}
                raise ValueError(f'jobs wait on each other or on failed jobs: {stuck}')
            if not pending and not running:
                break
            time.sleep(poll_seconds)
            for name, (process, job, handle, began) in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                handle.close()
                del running[name]
                log_file = job.work_dir / 'job.log'
                if code != 0:
                    raise JobFailed(f'job {name} failed (exit code {code}); its log '
                                    f'{log_file} ends with:\n{_tail(log_file)}')
                result_file = job.work_dir / 'result.json'
                if not result_file.is_file():
                    raise JobFailed(f'job {name} exited without writing {result_file}; '
                                    f'see {log_file}')
                results[name] = json.loads(result_file.read_text())
                log(f'[{_clock(started_all)}] done  {name} in '
                    f'{time.perf_counter() - began:.0f} s')
    finally:
        stop_all()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return results


def _clock(since: float) -> str:
    seconds = int(time.perf_counter() - since)
    return f'{seconds // 60:3d}:{seconds % 60:02d}'
