"""Give numpy 1.26 back the ``np.long`` alias that mmdet3d 1.4's GT sampling uses.

``DataBaseSampler.sample_all`` (mmdet3d/datasets/transforms/dbsampler.py, run by the
``ObjectSample`` transform of every KITTI GT-sampling pipeline) builds the labels of the
pasted objects with ``np.array(..., dtype=np.long)``. numpy deprecated the alias in 1.20
and removed it in 1.24, so on the pinned numpy 1.26 the first sampled object raises
``AttributeError: module 'numpy' has no attribute 'long'`` and SA-SSD training with GT
sampling stops at its first batch. numpy 2 brought ``np.long`` back as the C ``long``,
which is 64 bits on Linux and macOS; mmdet3d wants int64 labels (torch's ``long``).

The fix defines ``np.long = np.int64`` when, and only when, numpy lacks the name, so it
never changes a numpy that has it. It is applied by ``import rankdet.registration`` (what
configs do through ``custom_imports``).
"""
import warnings

import numpy as np


def restore_numpy_long() -> bool:
    """Define ``np.long`` as ``np.int64`` if numpy has no such attribute.

    Returns:
        True if the alias was added now, False if numpy already had one.
    """
    with warnings.catch_warnings():
        # numpy 1.26 warns "In the future `np.long` will be defined..." while refusing
        warnings.simplefilter('ignore', FutureWarning)
        if hasattr(np, 'long'):
            return False
    np.long = np.int64
    return True
