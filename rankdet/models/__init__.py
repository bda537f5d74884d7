"""rankdet's mmdet / mmdet3d modules; importing this registers them."""
