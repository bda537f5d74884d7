"""Which points lie inside which LiDAR boxes: rankdet's one function for it lives in
:mod:`rankdet.ops.points_in_boxes` (a point on a face is outside, as in mmdet3d's
``points_in_rbbox``); the conversion and the GT database import it from there. This name
stays for code that imported it here."""
from rankdet.ops.points_in_boxes import points_in_boxes

__all__ = ['points_in_boxes']
