"""rankdet's mmdet / mmdet3d modules; importing this registers them.

It also applies rankdet's stack fixes (once, :func:`rankdet.compat.apply_all`), so that a
script importing a model module directly (``import rankdet.models.sassd``) builds its
models on the fixed stack, as one importing :mod:`rankdet.registration` does.
"""
import importlib.util

from rankdet.compat import apply_all

apply_all()  # before anything below can be built (spconv on the CPU, np.long)
from . import dense_heads, losses  # noqa: E402,F401  mmdet's MODELS

if importlib.util.find_spec('mmdet3d') is not None:
    from . import sassd  # noqa: F401  registers SA-SSD in mmdet3d's MODELS
