"""What a picture shows: box sets with one colour per source, points coloured by height.

Shared by the open3d views (:mod:`.open3d_scene`) and the bird's-eye view (:mod:`.bev`),
so that a source has the same colour in both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .box_geometry import check_boxes

GT_COLOUR = (0.10, 0.85, 0.20)    # ground truth: green
PRED_COLOUR = (1.00, 0.25, 0.15)  # predictions: red-orange


@dataclass
class BoxSet:
    """Boxes of one source, drawn in one colour.

    ``boxes``: ``float[N, 7]`` LiDAR boxes (x, y, z, dx, dy, dz, yaw; z at the bottom);
    ``colour``: RGB in [0, 1]; ``name``: legend text; ``scores``: ``float[N]`` or None;
    ``labels``: ``int[N]`` class indices or None.
    """

    boxes: np.ndarray
    colour: tuple = GT_COLOUR
    name: str = 'boxes'
    scores: np.ndarray | None = None
    labels: np.ndarray | None = None

    def __post_init__(self):
        self.boxes = check_boxes(self.boxes, f'BoxSet {self.name!r} boxes')
        for field in ('scores', 'labels'):
            value = getattr(self, field)
            if value is not None:
                value = np.asarray(value).reshape(-1)
                if len(value) != len(self.boxes):
                    raise ValueError(f'BoxSet {self.name!r}: {len(self.boxes)} boxes but '
                                     f'{len(value)} {field}')
                setattr(self, field, value)


def height_colours(points, low: float = -2.5, high: float = 1.5) -> np.ndarray:
    """``float64[N, 3]`` colours for points by height z (metres, LiDAR frame): dark
    blue-grey at the ground to pale cyan at ``high``, so that box colours stand out."""
    z = np.clip((np.asarray(points)[:, 2] - low) / (high - low), 0, 1)[:, None]
    dark, light = np.array([0.25, 0.30, 0.42]), np.array([0.70, 0.92, 1.00])
    return dark + z * (light - dark)
