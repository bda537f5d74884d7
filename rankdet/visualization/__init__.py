"""Pictures of point clouds with 3D boxes: open3d views and a bird's-eye view.

numpy-only geometry (:mod:`.box_geometry`); open3d (optional, imported when used) for an
interactive window or an offscreen PNG (:mod:`.open3d_scene`); matplotlib for the
bird's-eye view (:mod:`.bev`). ``tools/vis3d.py`` is the command-line front end.
"""
from .bev import render_bev
from .box_geometry import bev_footprints, box_corners, box_line_set, heading_segments
from .open3d_scene import has_display, render_image, render_png, show
from .predictions import Predictions, load_predictions
from .scene_items import GT_COLOUR, PRED_COLOUR, BoxSet

__all__ = ['GT_COLOUR', 'PRED_COLOUR', 'BoxSet', 'Predictions', 'bev_footprints',
           'box_corners', 'box_line_set', 'has_display', 'heading_segments',
           'load_predictions', 'render_bev', 'render_image', 'render_png', 'show']
