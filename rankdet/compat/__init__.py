"""Fixes for the pinned OpenMMLab stack, each in one place, applied on `import rankdet`."""
from .checkpoint_load import allow_mmengine_checkpoints
from .cpu_distributed import allow_cpu_distributed
from .numpy_long import restore_numpy_long
from .spconv_cpu import patch_spconv_cpu_scatter_add, patch_spconv_cpu_stream

__all__ = ['allow_cpu_distributed', 'allow_mmengine_checkpoints',
           'patch_spconv_cpu_scatter_add', 'patch_spconv_cpu_stream', 'restore_numpy_long',
           'apply_all']


def apply_all():
    allow_mmengine_checkpoints()
    allow_cpu_distributed()
    patch_spconv_cpu_stream()
    patch_spconv_cpu_scatter_add()
    restore_numpy_long()
