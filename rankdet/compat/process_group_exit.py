"""End a distributed run cleanly: destroy the process group before the interpreter exits.

mmengine's Runner starts a process group (``--launcher pytorch``) and never destroys it,
nor do mmdet's tools. Its gloo backend runs each collective on a C++ worker thread,
which drops its last reference to the collective's tensors *after* the Python caller has
seen the result. A tensor made in Python then needs the GIL to release its Python
object; when the main thread has meanwhile reached interpreter shutdown, taking the GIL
ends the worker thread inside a noexcept C++ destructor, and the process dies with
``terminate called without an active exception`` (SIGABRT, exit -6) although its work
is done. That takes a loaded machine (the worker thread must be off the CPU for the
whole time the main thread needs to reach shutdown), hence a flaky launch.

Destroying the process group (after dropping the runner, whose DDP wrapper holds it
too) runs gloo's destructor while Python is fully alive: it joins the worker threads,
with the GIL released, so nothing is left to touch Python at exit. Dropping the runner
also shuts down its data loaders' worker processes (``persistent_workers``) now rather
than during interpreter shutdown.
"""
import gc


def release_process_group() -> bool:
    """Wait for every rank, then destroy all process groups of this process.

    Call it after a *successful* run, once the runner (and anything else holding its
    model) is gone: ``runner.train(); del runner; release_process_group()``. Not after
    an error: the other ranks may never reach the barrier (torchrun stops them instead).

    Returns:
        bool: True if a process group was destroyed, False if there was none.
    """
    import torch.distributed as dist

    gc.collect()  # the runner's reference cycles hold its DDP wrapper and data loaders
    if not dist.is_available() or not dist.is_initialized():
        return False
    dist.barrier()  # no rank leaves while another still expects a collective from it
    dist.destroy_process_group()
    gc.collect()
    return True
