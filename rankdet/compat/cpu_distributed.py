"""Let mmengine 0.10.7's pytorch launcher (torchrun + ``--launcher pytorch``) run on CPUs.

Multi-process training on a torch without CUDA (a CPU-only build, or a machine without a
GPU) stops in two places of mmengine, each written for GPUs:

- ``mmengine.dist.utils._init_dist_pytorch`` calls ``torch.cuda.set_device(local_rank)``
  before ``init_process_group``; without CUDA that raises ("module 'torch._C' has no
  attribute '_cuda_setDevice'"). And the OpenMMLab runtimes ask for the NCCL backend
  (``env_cfg = dict(dist_cfg=dict(backend='nccl'))``), which only runs on GPUs.
- ``Runner.wrap_model`` wraps the model in ``MMDistributedDataParallel`` with
  ``device_ids=[LOCAL_RANK]``; torch's DDP refuses device ids for a module on the CPU
  ("device_ids ... only work with single-device/multiple-device GPU modules").

Without CUDA (and without mmengine's other accelerators: MLU, NPU, MUSA), the patched
launcher skips ``set_device`` and uses gloo, torch's CPU backend, in place of NCCL; and
the DDP wrapper leaves out the device ids of a CPU module, as torch asks. Where a GPU is
present, mmengine's own code runs unchanged. This is what lets ``tools/dist_train.sh``
and the multi-process tests run on a CPU-only machine.
"""
import functools
import warnings

import torch

_PATCHED_ATTR = '_rankdet_cpu_distributed_patch'


def _has_accelerator() -> bool:
    """True where mmengine's own launcher code has a device to bind each rank to."""
    from mmengine.device import is_mlu_available, is_musa_available, is_npu_available

    return (torch.cuda.is_available() or is_mlu_available() or is_npu_available()
            or is_musa_available())


def _cpu_init_dist_pytorch(original):

    @functools.wraps(original)
    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if _has_accelerator() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            warnings.warn("no CUDA device: the distributed backend 'nccl' of the config "
                          "(env_cfg.dist_cfg.backend) is replaced by 'gloo'")
            backend = 'gloo'
        # as mmengine does after set_device: rank and world size from torchrun's env
        torch.distributed.init_process_group(backend=backend, **kwargs)

    setattr(init_dist_pytorch, _PATCHED_ATTR, True)
    return init_dist_pytorch


def _cpu_ddp_init(original):

    @functools.wraps(original)
    def __init__(self, module, *args, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu and kwargs.get('device_ids'):
            kwargs['device_ids'] = None  # torch's DDP: None for a CPU module
        original(self, module, *args, **kwargs)

    setattr(__init__, _PATCHED_ATTR, True)
    return __init__


def allow_cpu_distributed() -> bool:
    """Patch mmengine's pytorch launcher and DDP wrapper once; a no-op without mmengine.

    Returns:
        bool: True if mmengine is installed and patched (now or before).
    """
    try:
        import mmengine.dist.utils as dist_utils
        from mmengine.model import MMDistributedDataParallel
    except ImportError:
        return False
    # init_dist looks _init_dist_pytorch up in its module's globals at each call
    if not getattr(dist_utils._init_dist_pytorch, _PATCHED_ATTR, False):
        dist_utils._init_dist_pytorch = _cpu_init_dist_pytorch(dist_utils._init_dist_pytorch)
    # the runner builds this very class (directly or through MODEL_WRAPPERS)
    if not getattr(MMDistributedDataParallel.__init__, _PATCHED_ATTR, False):
        MMDistributedDataParallel.__init__ = _cpu_ddp_init(MMDistributedDataParallel.__init__)
    return True
