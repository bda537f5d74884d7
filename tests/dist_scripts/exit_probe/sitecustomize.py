"""Exit probe of tests/test_distributed.py: what a torchrun worker still holds at exit.

On ``PYTHONPATH`` with ``RANKDET_EXIT_PROBE_DIR`` set, every process that torchrun
started (``RANK`` set) writes ``<dir>/rank<RANK>-<pid>.json`` from its last atexit
handler, the latest moment before interpreter shutdown: whether its default process
group still exists, and the names of its OS threads (the main thread as
``MainThread``). gloo's threads still alive here are what may abort the process at
shutdown (rankdet/compat/process_group_exit.py). Only observes; changes nothing.
"""
import atexit
import json
import os
import sys


def _report():
    folder, rank = os.environ.get('RANKDET_EXIT_PROBE_DIR'), os.environ.get('RANK')
    if not folder or rank is None:
        return
    dist = sys.modules.get('torch.distributed')
    process_group = bool(dist is not None and dist.is_available() and dist.is_initialized())
    threads = []
    for tid in sorted(os.listdir('/proc/self/task'), key=int):
        if int(tid) == os.getpid():
            threads.insert(0, 'MainThread')
            continue
        try:
            with open(f'/proc/self/task/{tid}/comm') as f:
                threads.append(f.read().strip())
        except OSError:
            pass  # ended meanwhile
    path = os.path.join(folder, f'rank{rank}-{os.getpid()}.json')
    with open(path + '.tmp', 'w') as f:
        json.dump(dict(rank=rank, process_group=process_group, threads=threads), f)
    os.replace(path + '.tmp', path)


if os.environ.get('RANKDET_EXIT_PROBE_DIR') and os.environ.get('RANK') is not None:
    atexit.register(_report)  # registered first: runs last
