"""Make spconv 2.3.8's backward pass work with a CPU-only torch.

spconv's sparse-convolution ops ask for the current CUDA stream
(``spconv.pytorch.cppcore.get_current_stream`` -> ``torch.cuda.current_stream()``) even when
every tensor is on the CPU; on a CPU-only torch that raises ("Torch not compiled with CUDA
enabled") in the backward pass. On the CPU, spconv's kernels ignore the stream handle, so
the default stream (0) is the right answer there. With CUDA available, the original
function is kept: the GPU path is unchanged.
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
    """Patch ``spconv.pytorch.ops.get_current_stream`` once; a no-op without spconv.

    Returns:
        bool: True if spconv is installed and patched (now or before).
    """
    try:
        import spconv.pytorch.ops as spconv_ops
    except ImportError:
        return False
    current = spconv_ops.get_current_stream
    if not getattr(current, _PATCHED_ATTR, False):
        # ops.py imported the function by name, so its module global is what its
        # forward and backward passes call.
        spconv_ops.get_current_stream = _cpu_safe_stream(current)
    return True
