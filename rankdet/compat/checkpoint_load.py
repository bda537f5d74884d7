"""Let mmengine 0.10.7 resume from its own checkpoints under torch >= 2.6.

torch.load defaults to ``weights_only=True`` since torch 2.6. mmengine 0.10.7 calls plain
``torch.load`` (mmengine/runner/checkpoint.py), and its checkpoints hold more than tensors:
the runner's ``message_hub`` stores ``HistoryBuffer`` objects whose logs are numpy arrays.
torch then refuses the file ("Unsupported global: ... HistoryBuffer"). Rather than turn
``weights_only`` off, allow-list exactly the types such a checkpoint names, so loading
stays safe for everything else.

One name needs care: a pickled ``HistoryBuffer`` carries its statistics methods as
``getattr(HistoryBuffer, 'mean')`` etc. Allow-listing the builtin ``getattr`` would let a
crafted file walk from any allowed object to arbitrary code, so ``builtins.getattr`` is
mapped to a stand-in that only returns HistoryBuffer's registered statistics methods.
"""
import pickle

import torch

# HistoryBuffer.__init__ registers these in HistoryBuffer._statistics_methods, so in a
# process that has created no HistoryBuffer yet (tools/test.py loading a checkpoint) the
# registry is empty: accept them by name, and custom ones once registered.
BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def mmengine_checkpoint_globals():
    """The non-tensor types found in mmengine 0.10.7 checkpoints (training state)."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    return [
        HistoryBuffer,
        # HistoryBuffer keeps its logs and counts as numpy arrays and scalars
        np.core.multiarray._reconstruct,
        np.core.multiarray.scalar,
        np.ndarray,
        np.dtype,
        type(np.dtype(np.float64)),
        type(np.dtype(np.float32)),
        type(np.dtype(np.int64)),
    ]


def _history_buffer_getattr(obj, name):
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer

    if obj is HistoryBuffer and (name in BUILTIN_STATISTICS
                                 or name in HistoryBuffer._statistics_methods):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({obj!r}, {name!r}); only '
                                 f'HistoryBuffer statistics methods are allowed')


def allow_mmengine_checkpoints():
    """Add the types above to torch's safe globals; a no-op without mmengine."""
    try:
        safe = mmengine_checkpoint_globals()
    except ImportError:
        return False
    torch.serialization.add_safe_globals(
        safe + [(_history_buffer_getattr, 'builtins.getattr')])
    return True
