"""Map a function over jobs in worker processes, yielding results in job order."""
from __future__ import annotations

import multiprocessing

from tqdm import tqdm


def ordered_map(fn, jobs, workers: int = 1, desc: str | None = None, unit: str = 'it',
                progress: bool = True):
    """Yield ``fn(job)`` for every job, in the order of ``jobs``, with a progress bar.

    ``workers > 1`` runs ``fn`` in that many processes. They are forked where the system
    allows it, so they start without importing rankdet (and mmdet) again. Results come
    back in order, so the output does not depend on ``workers``.
    """
    jobs = list(jobs)
    bar = dict(total=len(jobs), desc=desc, unit=unit, disable=not progress)
    if workers <= 1 or len(jobs) <= 1:
        yield from tqdm(map(fn, jobs), **bar)
        return
    method = 'fork' if 'fork' in multiprocessing.get_all_start_methods() else None
    chunk = max(1, min(16, len(jobs) // (4 * workers)))
    with multiprocessing.get_context(method).Pool(workers) as pool:
        yield from tqdm(pool.imap(fn, jobs, chunksize=chunk), **bar)
