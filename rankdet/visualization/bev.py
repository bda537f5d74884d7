"""Bird's-eye-view picture of a scan with boxes (matplotlib, no display needed).

The view looks down on the LiDAR frame with +x (forward) pointing up the image and +y
(left) to the left, as a driver would draw a map. Each box is its footprint outline in
its source's colour, with a line from its centre to the middle of its front edge; boxes
with scores get the score (and class name, when given) printed beside them.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rankdet.atomic_write import atomic_write_bytes

from .box_geometry import bev_footprints, heading_segments
from .scene_items import height_colours

# KITTI's usual detection range (mmdet3d's point_cloud_range x and y).
KITTI_X_RANGE = (0.0, 70.4)
KITTI_Y_RANGE = (-40.0, 40.0)


def render_bev(path, points, box_sets=(), x_range=KITTI_X_RANGE, y_range=KITTI_Y_RANGE,
               size_px: int = 800, class_names=None, background='#0d0d14') -> Path:
    """Write a bird's-eye-view PNG of ``points`` and ``box_sets`` to ``path``.

    Args:
        path: output PNG (written to a temporary file, then renamed).
        points: ``float[N, C]`` LiDAR points, x, y, z first.
        box_sets: :class:`~rankdet.visualization.scene_items.BoxSet` list.
        x_range, y_range: the metres shown along x (up) and y (left).
        size_px: height of the image in pixels (the width follows the ranges).
        class_names: names for ``BoxSet.labels`` in the score text, or None.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Polygon

    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'points must have shape [N, C>=3] (x, y, z first), got '
                         f'{points.shape}')
    (x0, x1), (y0, y1) = x_range, y_range
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f'x_range and y_range must be (low, high), got {x_range}, '
                         f'{y_range}')
    dpi = 100
    height_in = size_px / dpi
    width_in = height_in * (y1 - y0) / (x1 - x0)
    fig = Figure(figsize=(width_in, height_in), dpi=dpi, facecolor=background)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_facecolor(background)
    ax.set_xlim(y1, y0)  # +y (left) on the left
    ax.set_ylim(x0, x1)  # +x (forward) up
    ax.set_aspect('equal')
    ax.axis('off')

    keep = ((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0)
            & (points[:, 1] <= y1))
    shown = points[keep]
    ax.scatter(shown[:, 1], shown[:, 0], s=1.2, c=height_colours(shown), marker='.',
               linewidths=0, rasterized=True)
    ax.plot([0], [0], marker='^', color='white', markersize=8)  # the sensor

    margin = max(x1 - x0, y1 - y0)
    for box_set in box_sets:
        colour = box_set.colour
        for k, (outline, heading) in enumerate(zip(bev_footprints(box_set.boxes),
                                                   heading_segments(box_set.boxes))):
            # only boxes within about one view of the picture are drawn: an untrained
            # model predicts boxes kilometres away or kilometres long, and matplotlib's
            # transforms and text rasteriser fail on such coordinates
            if not (np.isfinite(outline).all()
                    and (outline[:, 0] >= x0 - margin).all()
                    and (outline[:, 0] <= x1 + margin).all()
                    and (outline[:, 1] >= y0 - margin).all()
                    and (outline[:, 1] <= y1 + margin).all()):
                continue
            ax.add_patch(Polygon(outline[:, ::-1], closed=True, fill=False,
                                 edgecolor=colour, linewidth=1.2))
            ax.plot(heading[:, 1], heading[:, 0], color=colour, linewidth=1.2)
            if box_set.scores is not None:
                text = f'{box_set.scores[k]:.2f}'
                if class_names is not None and box_set.labels is not None:
                    text = f'{class_names[int(box_set.labels[k])]} {text}'
                corner = outline[np.argmax(outline[:, 0])]  # the most forward corner
                ax.text(corner[1], corner[0] + 0.5, text, color=colour, fontsize=7,
                        ha='center', va='bottom', clip_on=True)
    handles = [ax.plot([], [], color=s.colour, label=s.name)[0] for s in box_sets]
    if handles:
        ax.legend(handles=handles, loc='lower right', fontsize=8, facecolor=background,
                  edgecolor='grey', labelcolor='white')

    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=dpi, facecolor=background)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
