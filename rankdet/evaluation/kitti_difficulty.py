"""KITTI's difficulty levels (the object devkit's table), the one copy in rankdet.

An object is *easy*, *moderate* or *hard* when its 2D box in image_2 is taller than
``MIN_HEIGHT`` pixels, its occlusion level is at most ``MAX_OCCLUSION`` and its truncation
at most ``MAX_TRUNCATION`` of that level (indices 0, 1, 2); the evaluation ignores the
ground truth a level excludes (:mod:`rankdet.evaluation.kitti_eval`), and the KITTI
conversion stores each object's easiest level (``data_converters.kitti_converter``).
"""
DIFFICULTIES = ('easy', 'moderate', 'hard')
MIN_HEIGHT = (40, 25, 25)          # pixels, 2D box height in image_2
MAX_OCCLUSION = (0, 1, 2)          # KITTI occlusion level: 0 visible .. 2 largely occluded
MAX_TRUNCATION = (0.15, 0.3, 0.5)  # share of the object outside the image

__all__ = ['DIFFICULTIES', 'MIN_HEIGHT', 'MAX_OCCLUSION', 'MAX_TRUNCATION']
