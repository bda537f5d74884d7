"""rankdet's mmdet / mmdet3d modules; importing this registers them."""
from . import dense_heads, losses  # noqa: F401
