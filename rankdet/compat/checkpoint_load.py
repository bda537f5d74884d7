"""Let mmengine 0.10.7 resume from its own checkpoints under torch >= 2.6.

torch.load defaults to ``weights_only=True`` since torch 2.6. mmengine 0.10.7 calls plain
``torch.load`` (mmengine/runner/checkpoint.py), and its checkpoints hold more than tensors:
the runner's ``message_hub`` stores ``HistoryBuffer`` objects whose logs are numpy arrays.
torch then refuses the file ("Unsupported global: ... HistoryBuffer"). Rather than turn
``weights_only`` off, allow-list exactly the types such a checkpoint names, so loading
stays safe for everything else.
"""
import torch


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


def allow_mmengine_checkpoints():
    """Add the types above to torch's safe globals; a no-op without mmengine."""
    try:
        safe = mmengine_checkpoint_globals()
    except ImportError:
        return False
    torch.serialization.add_safe_globals(safe)
    return True
