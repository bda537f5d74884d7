"""Make spconv 2.3.8's sparse convolutions right on a CPU-only torch.

Two fixes, both applied by ``import rankdet.registration``:

1. The CUDA stream (below).
2. The CPU scatter-add races: every sparse convolution runs gather -> mm ->
   ``SpconvOps.scatter_add_cpu`` per kernel offset, and with ``torch.get_num_threads() > 1``
   that scatter intermittently puts sums on the wrong sites (a strided SparseConv3d off by
   up to 0.5 on features of size 1 in about half of the calls, backward likewise).
   Routing only the scatter through ``Tensor.index_add_`` makes every call match the
   one-thread result exactly.

The stream:

spconv's sparse-convolution ops ask for the current CUDA stream
(``spconv.pytorch.cppcore.get_current_stream`` -> ``torch.cuda.current_stream()``) even when
every tensor is on the CPU; on a CPU-only torch that raises ("Torch not compiled with CUDA
enabled") in the backward pass. On the CPU, spconv's kernels ignore the stream handle, so
the default stream (0) is the right answer there.

On CUDA both stay out of the way: with CUDA available the stream patch is not applied at
all (spconv's own function runs), and the scatter fix only ever sees CPU tensors (spconv
calls ``scatter_add_cpu`` on its CPU path alone; anything else goes to spconv's own).
"""
import torch

_PATCHED_ATTR = '_rankdet_cpu_stream_patch'


def _cpu_safe_stream(original):

    def get_current_stream():
        if torch.cuda.is_available():
            return original()
        return 0  # the default stream handle; unused by spconv's CPU kernels

    setattr(get_current_stream, _PATCHED_ATTR, True)
    return get_current_stream


def patch_spconv_cpu_stream():
    """Patch ``spconv.pytorch.ops.get_current_stream`` once, only where CUDA is unavailable.

    A no-op without spconv, and with CUDA available: there spconv's own function is right.

    Returns:
        bool: True if spconv is installed and patched (now or before).
    """
    try:
        import spconv.pytorch.ops as spconv_ops
    except ImportError:
        return False
    if torch.cuda.is_available():
        return getattr(spconv_ops.get_current_stream, _PATCHED_ATTR, False)
    current = spconv_ops.get_current_stream
    if not getattr(current, _PATCHED_ATTR, False):
        # ops.py imported the function by name, so its module global is what its
        # forward and backward passes call.
        spconv_ops.get_current_stream = _cpu_safe_stream(current)
    return True


_SCATTER_PATCHED_ATTR = '_rankdet_scatter_add_patch'


def _torch_scatter_add_cpu(out_tv, buffer_tv, indices_tv, original=None):
    """``out[indices[j]] += buffer[j]`` for ``j < len(indices)``, with torch (in place).

    ``out`` (N, C), ``buffer`` (>= M, C), ``indices`` (M,): cumm tensorview tensors. A
    tensor that is not on the CPU (tensorview device >= 0) goes to spconv's ``original``.
    """
    if original is not None and any(t.device != -1 for t in (out_tv, buffer_tv, indices_tv)):
        return original(out_tv, buffer_tv, indices_tv)
    out = torch.from_numpy(out_tv.numpy_view())
    indices = torch.from_numpy(indices_tv.numpy_view()).long()
    buffer = torch.from_numpy(buffer_tv.numpy_view())[:indices.shape[0]]
    out.index_add_(0, indices, buffer)


def patch_spconv_cpu_scatter_add():
    """Route spconv's CPU scatter-add through torch; a no-op without spconv.

    Returns:
        bool: True if spconv is installed and patched (now or before).
    """
    try:
        import spconv.pytorch.ops as spconv_ops
    except ImportError:
        return False
    ops_cls = spconv_ops.SpconvOps
    if getattr(ops_cls, _SCATTER_PATCHED_ATTR, False):
        return True

    class SpconvOpsCpuSafe(ops_cls):  # ops.py calls SpconvOps.<name> through its global
        pass

    original = ops_cls.scatter_add_cpu

    def scatter_add_cpu(out_tv, buffer_tv, indices_tv):
        return _torch_scatter_add_cpu(out_tv, buffer_tv, indices_tv, original)

    SpconvOpsCpuSafe.scatter_add_cpu = staticmethod(scatter_add_cpu)
    setattr(SpconvOpsCpuSafe, _SCATTER_PATCHED_ATTR, True)
    spconv_ops.SpconvOps = SpconvOpsCpuSafe
    return True
