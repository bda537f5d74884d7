"""A synthetic COCO-format 2D detection set: images of simple shapes.

Each image (a random side length in ``[min_size, max_size]``) has a smooth textured
background, unlabelled clutter (thin lines, scribbles and dots, some behind the shapes,
some over them), and ``min_objects..max_objects`` filled shapes of ``num_classes`` kinds
(circle, square, triangle, star, ellipse, cross, hexagon, ring) at random sizes, angles
and colours. Shapes drawn later hide those drawn earlier, and the image border crops
them; an object whose hidden share exceeds ``max_occlusion`` gets no annotation, so
that every label stays fair.

Annotations follow COCO's official instances format: ``bbox`` [x, y, w, h] is the tight
box of the object's visible pixels, ``area`` their count, ``segmentation`` that box as
a polygon, ``iscrowd`` 0; category ids start at 1. The layout mirrors COCO 2017, so
that COCO configs only need a new ``data_root``::

    root/annotations/instances_{train,val}2017.json
    root/{train,val}2017/<image id, 12 digits>.png

Every image draws from its own generator seeded by (seed, split, index): the same
arguments give the same bytes, and the first images of a larger set equal a smaller one.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from .atomic_dir import MARKER, build_atomically
from .parallel import ordered_map
from .png import write_png

SHAPES = ('circle', 'square', 'triangle', 'star', 'ellipse', 'cross', 'hexagon', 'ring')
SPLITS = ('train', 'val')
MIN_OBJECT_SIZE = 12   # pixels across; clutter dots stay below 6 so they never look alike


@dataclass
class CocoShapesConfig:
    """What a synthetic COCO set contains; see the module docstring."""

    num_train: int = 200
    num_val: int = 50
    seed: int = 0
    num_classes: int = 5
    min_size: int = 128            # image side lengths in pixels (width, height drawn
    max_size: int = 192            # independently)
    min_objects: int = 1
    max_objects: int = 8
    min_clutter: int = 2
    max_clutter: int = 10
    max_occlusion: float = 0.7     # objects hidden more than this are not annotated
    min_visible_pixels: int = 20   # and neither are those with fewer visible pixels
    # object radii are log-uniform from min_radius pixels to max_radius_ratio times the
    # image's shorter side (the defaults make shapes 12 px across up to 60 % of the side)
    min_radius: float = MIN_OBJECT_SIZE / 2
    max_radius_ratio: float = 0.3

    def __post_init__(self):
        if not 1 <= self.num_classes <= len(SHAPES):
            raise ValueError(f'num_classes must be in 1..{len(SHAPES)} ({SHAPES}), got '
                             f'{self.num_classes}')
        if not 2 * MIN_OBJECT_SIZE <= self.min_size <= self.max_size:
            raise ValueError(f'need {2 * MIN_OBJECT_SIZE} <= min_size <= max_size, got '
                             f'{self.min_size}, {self.max_size}')
        for lo, hi in (('min_objects', 'max_objects'), ('min_clutter', 'max_clutter')):
            if not 0 <= getattr(self, lo) <= getattr(self, hi):
                raise ValueError(f'need 0 <= {lo} <= {hi}, got {getattr(self, lo)}, '
                                 f'{getattr(self, hi)}')
        if self.num_train < 0 or self.num_val < 0:
            raise ValueError(f'image counts must be >= 0, got num_train={self.num_train}, '
                             f'num_val={self.num_val}')
        if not 0 <= self.max_occlusion < 1:
            raise ValueError(f'max_occlusion must be in [0, 1), got {self.max_occlusion}')
        if not 0 < self.max_radius_ratio <= 0.5:
            raise ValueError(f'max_radius_ratio must be in (0, 0.5], got '
                             f'{self.max_radius_ratio}')
        if not MIN_OBJECT_SIZE / 2 <= self.min_radius <= self.max_radius_ratio * self.min_size:
            raise ValueError(f'need {MIN_OBJECT_SIZE / 2} <= min_radius <= max_radius_ratio '
                             f'* min_size ({self.max_radius_ratio * self.min_size:g}) pixels, '
                             f'got {self.min_radius}')

    @property
    def categories(self) -> list[dict]:
        return [{'id': i + 1, 'name': name, 'supercategory': 'shape'}
                for i, name in enumerate(SHAPES[:self.num_classes])]


# ----------------------------------------------------------------------------- masks
def _polygon_mask(u: np.ndarray, v: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test of the points (u, v) against ``float[K, 2]``."""
    inside = np.zeros(u.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        if y0 == y1:
            continue
        crosses = (y0 > v) != (y1 > v)
        inside ^= crosses & (u < (x1 - x0) * (v - y0) / (y1 - y0) + x0)
    return inside


def _regular_polygon(count: int, radius: float, inner: float | None = None) -> np.ndarray:
    """Vertices of a regular polygon, or of a star when ``inner`` (radius) is given."""
    if inner is None:
        angles = np.arange(count) * 2 * np.pi / count - np.pi / 2
        radii = np.full(count, radius)
    else:
        angles = np.arange(2 * count) * np.pi / count - np.pi / 2
        radii = np.where(np.arange(2 * count) % 2 == 0, radius, inner)
    return np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray, radius: float,
               aspect: float) -> np.ndarray:
    """Pixels (u, v), in the shape's own rotated frame around its centre, that lie inside
    a ``shape`` reaching ``radius`` from its centre. ``aspect``: ellipse minor/major."""
    if shape == 'circle':
        return u * u + v * v <= radius * radius
    if shape == 'ring':
        d2 = u * u + v * v
        return (d2 <= radius * radius) & (d2 >= (0.55 * radius) ** 2)
    if shape == 'ellipse':
        return (u / radius) ** 2 + (v / (aspect * radius)) ** 2 <= 1
    if shape == 'square':
        half = radius / np.sqrt(2)
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == 'cross':
        arm = 0.3 * radius
        return ((np.abs(u) <= radius) & (np.abs(v) <= arm)) | \
            ((np.abs(v) <= radius) & (np.abs(u) <= arm))
    if shape == 'triangle':
        return _polygon_mask(u, v, _regular_polygon(3, radius))
    if shape == 'hexagon':
        return _polygon_mask(u, v, _regular_polygon(6, radius))
    if shape == 'star':
        return _polygon_mask(u, v, _regular_polygon(5, radius, inner=0.45 * radius))
    raise ValueError(f'unknown shape {shape!r}; expected one of {SHAPES}')


def _rotate(x: np.ndarray, y: np.ndarray, angle: float):
    """Offsets (x, y) from a shape's centre in the shape's frame, turned by ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    return x * c + y * s, -x * s + y * c


def _segment_mask(x: np.ndarray, y: np.ndarray, p0, p1, width: float) -> np.ndarray:
    """Pixels within ``width / 2`` of the segment p0-p1."""
    d = np.subtract(p1, p0)
    t = np.clip(((x - p0[0]) * d[0] + (y - p0[1]) * d[1]) / max(d @ d, 1e-9), 0, 1)
    return (x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 <= (width / 2) ** 2


# ----------------------------------------------------------------------------- drawing
class _Canvas:
    """An image being drawn plus, per pixel, which object is on top (-1: none)."""

    def __init__(self, image: np.ndarray):
        self.image = image                                     # float32[H, W, 3]
        self.owner = np.full(image.shape[:2], -1, dtype=np.int64)

    def paint(self, mask: np.ndarray, window, colour, owner: int) -> None:
        (y0, y1), (x0, x1) = window
        self.image[y0:y1, x0:x1][mask] = colour
        self.owner[y0:y1, x0:x1][mask] = owner

    def window(self, cx: float, cy: float, radius: float):
        """Pixel rows and columns around (cx, cy) within ``radius``, clipped to the image."""
        height, width = self.owner.shape
        y0, y1 = max(int(cy - radius) - 1, 0), min(int(cy + radius) + 2, height)
        x0, x1 = max(int(cx - radius) - 1, 0), min(int(cx + radius) + 2, width)
        return (y0, y1), (x0, x1)

    @staticmethod
    def centres(window):
        """Pixel-centre coordinates of a window, ``x: [1, w]`` and ``y: [h, 1]``, which
        broadcast to the window's shape."""
        (y0, y1), (x0, x1) = window
        return np.arange(x0, x1)[None, :] + 0.5, np.arange(y0, y1)[:, None] + 0.5


def _background(rng, height: int, width: int):
    """A colour gradient with a few soft sinusoidal ripples, ``float32[H, W, 3]``, and
    its mean colour."""
    base, other = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    scale = np.float32(max(height, width))
    x = np.arange(width, dtype=np.float32)[None, :] / scale
    y = np.arange(height, dtype=np.float32)[:, None] / scale
    direction = rng.normal(size=2).astype(np.float32)
    ramp = x * direction[0] + y * direction[1]   # [H, W]
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-9)
    image = base.astype(np.float32) + ramp[..., None] * ((other - base) * 0.5).astype(np.float32)
    for _ in range(3):
        freq = (rng.uniform(1, 8, 2) * 2 * np.pi).astype(np.float32)
        ripple = np.sin(x * freq[0] + y * freq[1] + np.float32(rng.uniform(0, 2 * np.pi)))
        image += ripple[..., None] * rng.uniform(-12, 12, 3).astype(np.float32)
    return image, image[::4, ::4].reshape(-1, 3).mean(0)


def _distinct_colour(rng, background_mean: np.ndarray) -> np.ndarray:
    """A colour far enough from the background to be seen (L1 >= 120 of 765)."""
    for _ in range(100):
        colour = rng.uniform(0, 255, 3)
        if np.abs(colour - background_mean).sum() >= 120:
            return colour
    return 255 - background_mean  # unreachable in practice; the complement is far


def _draw_clutter(rng, canvas: _Canvas, on_top: bool) -> None:
    """One unlabelled distractor: a thin line, a scribble or a dot. Over shapes only thin
    lines and dots, which hide little."""
    height, width = canvas.owner.shape
    kind = rng.choice(['line', 'dot'] if on_top else ['line', 'scribble', 'dot'])
    colour = rng.uniform(0, 255, 3)
    if kind == 'dot':
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(1.0, 2.5)
        window = canvas.window(cx, cy, r)
        x, y = canvas.centres(window)
        canvas.paint((x - cx) ** 2 + (y - cy) ** 2 <= r * r, window, colour, -1)
        return
    points = [rng.uniform([0, 0], [width, height])]
    steps = 1 if kind == 'line' else int(rng.integers(3, 7))
    for _ in range(steps):
        length = rng.uniform(10, 0.8 * max(width, height)) if kind == 'line' else \
            rng.uniform(6, 20)
        angle = rng.uniform(0, 2 * np.pi)
        points.append(points[-1] + length * np.array([np.cos(angle), np.sin(angle)]))
    line_width = rng.uniform(1.0, 2.0)
    for p0, p1 in zip(points[:-1], points[1:]):
        centre, half = (p0 + p1) / 2, np.linalg.norm(p1 - p0) / 2 + line_width
        window = canvas.window(*centre, half)
        (y0, y1), (x0, x1) = window
        if y1 <= y0 or x1 <= x0:
            continue
        canvas.paint(_segment_mask(*canvas.centres(window), p0, p1, line_width), window,
                     colour, -1)


def make_image(cfg: CocoShapesConfig, split: str, index: int):
    """Image ``index`` of ``split``: ``uint8[H, W, 3]`` and its annotations as a list of
    dicts (category_id, bbox, area, segmentation) without ids; depends only on
    (cfg, split, index)."""
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index])
    width, height = (int(s) for s in rng.integers(cfg.min_size, cfg.max_size + 1, 2))
    image, background_mean = _background(rng, height, width)
    canvas = _Canvas(image)
    num_clutter = int(rng.integers(cfg.min_clutter, cfg.max_clutter + 1))
    on_top = rng.random(num_clutter) < 0.3
    for _ in range(np.count_nonzero(~on_top)):
        _draw_clutter(rng, canvas, on_top=False)

    category_ids, whole_areas = [], []  # per object; whole: pixels in or outside the image
    max_radius = cfg.max_radius_ratio * min(width, height)
    for k in range(int(rng.integers(cfg.min_objects, cfg.max_objects + 1))):
        category = int(rng.integers(cfg.num_classes))
        # log-uniform sizes: small objects are as common as large ones
        radius = float(np.exp(rng.uniform(np.log(cfg.min_radius), np.log(max_radius))))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        angle = rng.uniform(0, 2 * np.pi)
        aspect = rng.uniform(0.4, 0.65)
        colour = _distinct_colour(rng, background_mean)
        shape = SHAPES[category]
        # the whole shape on an unclipped grid of the same pixel lattice, to know how
        # much of it the border crops
        lattice = np.arange(-np.ceil(radius) - 1, np.ceil(radius) + 2) + 0.5
        whole = shape_mask(shape, *_rotate(lattice[None, :] + np.floor(cx) - cx,
                                           lattice[:, None] + np.floor(cy) - cy, angle),
                           radius, aspect)
        window = canvas.window(cx, cy, radius)
        x, y = canvas.centres(window)
        mask = shape_mask(shape, *_rotate(x - cx, y - cy, angle), radius, aspect)
        canvas.paint(mask, window, colour, k)
        category_ids.append(category + 1)
        whole_areas.append(int(whole.sum()))

    for _ in range(np.count_nonzero(on_top)):
        _draw_clutter(rng, canvas, on_top=True)
    noise = rng.standard_normal(canvas.image.shape, dtype=np.float32) * rng.uniform(2, 8)
    pixels = np.clip(np.round(canvas.image + noise), 0, 255).astype(np.uint8)

    return pixels, visible_annotations(canvas.owner, category_ids, whole_areas,
                                       cfg.max_occlusion, cfg.min_visible_pixels)


def visible_annotations(owner: np.ndarray, category_ids, whole_areas, max_occlusion: float,
                        min_visible_pixels: int) -> list[dict]:
    """COCO annotations (without ids) of the objects still visible enough.

    ``owner``: ``int[H, W]``, per pixel the index of the object on top (-1: none);
    object ``k`` has category ``category_ids[k]`` and covers ``whole_areas[k]`` pixels
    when nothing hides it and the border crops nothing. It is annotated when at least
    ``(1 - max_occlusion)`` of that and ``min_visible_pixels`` remain; ``bbox`` is the
    tight box of its visible pixels (pixel k spans [k, k + 1)), ``area`` their count.
    """
    annotations = []
    for k, (category_id, whole_area) in enumerate(zip(category_ids, whole_areas)):
        ys, xs = np.nonzero(owner == k)
        if len(xs) < max(min_visible_pixels, (1 - max_occlusion) * whole_area):
            continue
        x0, y0 = float(xs.min()), float(ys.min())
        x1, y1 = float(xs.max() + 1), float(ys.max() + 1)
        annotations.append({
            'category_id': int(category_id), 'bbox': [x0, y0, x1 - x0, y1 - y0],
            'area': float(len(xs)), 'iscrowd': 0,
            'segmentation': [[x0, y0, x1, y0, x1, y1, x0, y1]]})
    return annotations


# ----------------------------------------------------------------------------- files
def _render(cfg: CocoShapesConfig, folder: Path, job) -> tuple:
    """Draw and write one image; returns its json entry and annotations (no ids yet)."""
    split, index, image_id = job
    pixels, annotations = make_image(cfg, split, index)
    file_name = f'{image_id:012d}.png'
    write_png(folder / file_name, pixels)
    image = {'id': image_id, 'file_name': file_name, 'height': pixels.shape[0],
             'width': pixels.shape[1]}
    return image, annotations


def _fill_coco_set(root: Path, cfg: CocoShapesConfig, progress: bool, workers: int) -> None:
    (root / 'annotations').mkdir()
    counts = {'train': cfg.num_train, 'val': cfg.num_val}
    first_image_id, next_ann_id = 1, 1  # ids unique across both splits, like COCO's
    for split in SPLITS:
        folder = root / f'{split}2017'
        folder.mkdir()
        jobs = [(split, i, first_image_id + i) for i in range(counts[split])]
        first_image_id += counts[split]
        images, annotations = [], []
        for image, anns in ordered_map(partial(_render, cfg, folder), jobs, workers,
                                       f'synthetic COCO {split}', 'image', progress):
            images.append(image)
            for ann in anns:
                annotations.append({'id': next_ann_id, 'image_id': image['id'], **ann})
                next_ann_id += 1
        dataset = {
            'info': {'description': 'rankdet synthetic shapes', 'version': '1.0'},
            'licenses': [], 'images': images, 'annotations': annotations,
            'categories': cfg.categories}
        (root / 'annotations' / f'instances_{split}2017.json').write_text(
            json.dumps(dataset, separators=(',', ':')))
    record = {'generator': 'data_converters.synthetic.coco_shapes', 'config': asdict(cfg)}
    (root / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + '\n')


def generate_coco(root, cfg: CocoShapesConfig | None = None, overwrite: bool = False,
                  progress: bool = True, workers: int = 1) -> Path:
    """Write a synthetic COCO set at ``root`` (built beside it, then renamed into place).

    ``overwrite`` replaces an existing set made by this generator; any other existing
    folder is refused. ``workers`` processes draw images; the bytes do not depend on it.
    Returns ``root``.
    """
    cfg = cfg or CocoShapesConfig()
    return build_atomically(
        Path(root), lambda tmp: _fill_coco_set(tmp, cfg, progress, workers), overwrite)
