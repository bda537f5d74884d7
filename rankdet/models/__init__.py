"""rankdet's mmdet / mmdet3d modules; importing this registers them."""
import importlib.util

from . import dense_heads, losses  # noqa: F401  mmdet's MODELS

if importlib.util.find_spec('mmdet3d') is not None:
    from . import sassd  # noqa: F401  registers SA-SSD in mmdet3d's MODELS
