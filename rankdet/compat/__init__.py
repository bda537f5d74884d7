"""Fixes for the pinned OpenMMLab stack, each in one place, applied once by
``import rankdet.registration`` (what configs' ``custom_imports`` and the tools import)."""
from .checkpoint_load import allow_mmengine_checkpoints
from .cpu_distributed import allow_cpu_distributed
from .numpy_long import restore_numpy_long
from .spconv_cpu import patch_spconv_cpu_scatter_add, patch_spconv_cpu_stream

__all__ = ['allow_cpu_distributed', 'allow_mmengine_checkpoints',
           'patch_spconv_cpu_scatter_add', 'patch_spconv_cpu_stream', 'restore_numpy_long',
           'apply_all']


_applied = False


def apply_all() -> None:
    """Apply every fix, once per process (each fix is idempotent on its own as well)."""
    global _applied
    if _applied:
        return
    allow_mmengine_checkpoints()
    allow_cpu_distributed()
    patch_spconv_cpu_stream()
    patch_spconv_cpu_scatter_add()
    restore_numpy_long()
    _applied = True
