"""A synthetic KITTI 3D object set: spinning-LiDAR scans of cars on a ground plane.

Each frame is a small street scene in the LiDAR frame (x forward, y left, z up, sensor at
the origin, 1.73 m above a flat ground plane as on KITTI's car):

- cars: oriented boxes (~3.9 x 1.6 x 1.56 m, a lower body and a narrower cabin inside the
  labelled box) on the ground, in front of the sensor within the camera's view, not
  overlapping; most are aligned with the road, some have random yaw;
- clutter that is never labelled: poles, walls, bins (also behind the sensor);
- a spinning LiDAR (default HDL-64E-like: 64 beams from -24.9 to +2 degrees) casting one
  ray per beam and azimuth step, with range noise, dropout (more at long range and on
  glass) and a reflectance channel from material and incidence angle, rounded to 0.01
  like KITTI's.

Files follow the KITTI layout that mmdet3d's converter reads: ``training/{velodyne,
calib,label_2,image_2}``, ``testing/{velodyne,calib,image_2}``, ``ImageSets/*.txt``.
Labels are ``Car`` lines in the rectified camera frame, rounded to KITTI's two decimals
before the scan is cast, so the scan matches the printed boxes. Truncation comes from the
projected box leaving the 1242x375 image, occlusion from the share of the car's rays that
other objects block, so KITTI's easy / moderate / hard all occur. A car with fewer than
``min_points`` returns is written as ``DontCare`` (KITTI's marker for regions that the
benchmark ignores). ``image_2`` holds the scan projected with P2, coloured by depth.

Every frame draws from its own generator seeded by (seed, split, index): the same
arguments give the same bytes.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from rankdet.kitti.box_transform import (camera_to_lidar_boxes, limit_period,
                                         lidar_to_camera_boxes)
from rankdet.kitti.calib import KittiCalib, write_calib
from rankdet.kitti.label import KittiLabels, write_label
from rankdet.kitti.points import write_points
from rankdet.ops.box_corners import bev_corners, camera_box_corners

from .atomic_dir import MARKER, build_atomically
from .parallel import ordered_map
from .png import write_png

# Published KITTI calibrations of two recording days (as in the object benchmark's calib
# files), row-major; P0..P3 3x4, R0_rect 3x3, Tr_* 3x4.
_KITTI_CALIB_ROWS = {
    '2011_09_26': dict(
        P0=[[721.5377, 0, 609.5593, 0], [0, 721.5377, 172.854, 0], [0, 0, 1, 0]],
        P1=[[721.5377, 0, 609.5593, -387.5744], [0, 721.5377, 172.854, 0], [0, 0, 1, 0]],
        P2=[[721.5377, 0, 609.5593, 44.85728],
            [0, 721.5377, 172.854, 0.2163791],
            [0, 0, 1, 0.002745884]],
        P3=[[721.5377, 0, 609.5593, -339.5242],
            [0, 721.5377, 172.854, 2.199936],
            [0, 0, 1, 0.002729905]],
        R0_rect=[[0.9999239, 0.00983776, -0.007445048],
                 [-0.009869795, 0.9999421, -0.004278459],
                 [0.007402527, 0.004351614, 0.9999631]],
        Tr_velo_to_cam=[[0.007533745, -0.9999714, -0.000616602, -0.004069766],
                        [0.01480249, 0.0007280733, -0.9998902, -0.07631618],
                        [0.9998621, 0.00752379, 0.01480755, -0.2717806]],
        Tr_imu_to_velo=[[0.9999976, 0.0007553071, -0.002035826, -0.8086759],
                        [-0.0007854027, 0.9998898, -0.01482298, 0.3195559],
                        [0.002024406, 0.01482454, 0.9998881, -0.7997231]],
    ),
    '2011_10_03': dict(
        P0=[[707.0493, 0, 604.0814, 0], [0, 707.0493, 180.5066, 0], [0, 0, 1, 0]],
        P1=[[707.0493, 0, 604.0814, -379.7842], [0, 707.0493, 180.5066, 0], [0, 0, 1, 0]],
        P2=[[707.0493, 0, 604.0814, 45.75831],
            [0, 707.0493, 180.5066, -0.3454157],
            [0, 0, 1, 0.004981016]],
        P3=[[707.0493, 0, 604.0814, -334.1081],
            [0, 707.0493, 180.5066, 2.33066],
            [0, 0, 1, 0.003201153]],
        R0_rect=[[0.9999128, 0.01009263, -0.008511932],
                 [-0.01012729, 0.9999406, -0.004037671],
                 [0.008470675, 0.004123522, 0.9999556]],
        Tr_velo_to_cam=[[0.006927964, -0.9999722, -0.002757829, -0.02457729],
                        [-0.001162982, 0.002749836, -0.9999955, -0.06127237],
                        [0.9999753, 0.006931141, -0.001143899, -0.3321029]],
        Tr_imu_to_velo=[[0.9999976, 0.0007553071, -0.002035826, -0.8086759],
                        [-0.0007854027, 0.9998898, -0.01482298, 0.3195559],
                        [0.002024406, 0.01482454, 0.9998881, -0.7997231]],
    ),
}
KITTI_CALIBS = {day: KittiCalib(**rows) for day, rows in _KITTI_CALIB_ROWS.items()}

IMAGE_SIZE = (1242, 375)  # (width, height) of KITTI's image_2
_SPLIT_SEED = {'training': 0, 'testing': 1}

# Share of a car's rays that reach it, by KITTI occlusion level (0 visible, 1 partly).
_VISIBLE_SHARE = (0.75, 0.35)

# Surface materials: mean reflectance and the chance that a return is lost.
_GROUND, _BODY, _GLASS, _POLE, _WALL, _BIN = range(6)
_DROPOUT = np.array([0.02, 0.02, 0.5, 0.02, 0.02, 0.02])


@dataclass
class LidarModel:
    """A spinning LiDAR at the origin of the LiDAR frame. Defaults: Velodyne HDL-64E as
    mounted on KITTI's car (64 beams, -24.9..+2 degrees, ~0.17 degree azimuth steps at
    10 Hz; 0.2 here), 1.73 m above the ground."""

    num_beams: int = 64
    elevation_deg: tuple[float, float] = (-24.9, 2.0)
    azimuth_resolution_deg: float = 0.2
    max_range: float = 120.0
    range_noise: float = 0.02      # metres, standard deviation along the ray
    sensor_height: float = 1.73    # the ground is the plane z = -sensor_height

    def __post_init__(self):
        if self.num_beams < 1:
            raise ValueError(f'num_beams must be >= 1, got {self.num_beams}')
        if not 0 < self.azimuth_resolution_deg <= 10:
            raise ValueError(f'azimuth_resolution_deg must be in (0, 10], got '
                             f'{self.azimuth_resolution_deg}')
        low, high = self.elevation_deg
        if not -90 < low <= high < 90:
            raise ValueError(f'elevation_deg must be (low, high) with -90 < low <= high '
                             f'< 90, got {self.elevation_deg}')

    @property
    def num_azimuths(self) -> int:
        return int(round(360.0 / self.azimuth_resolution_deg))

    def ray_directions(self) -> np.ndarray:
        """Unit directions ``float64[B, A, 3]``, beams top-down, azimuth from -pi."""
        elevation = np.deg2rad(np.linspace(self.elevation_deg[1], self.elevation_deg[0],
                                           self.num_beams))
        azimuth = -np.pi + (np.arange(self.num_azimuths) + 0.5) * 2 * np.pi / self.num_azimuths
        ce, se = np.cos(elevation)[:, None], np.sin(elevation)[:, None]  # [B, 1]
        return np.stack(np.broadcast_arrays(ce * np.cos(azimuth), ce * np.sin(azimuth), se),
                        axis=-1)


@dataclass
class KittiSceneConfig:
    """What a synthetic KITTI set contains; see the module docstring."""

    num_train: int = 32
    num_val: int = 16
    num_test: int = 8
    seed: int = 0
    min_cars: int = 1
    max_cars: int = 10
    empty_ratio: float = 0.0       # share of frames that have no car at all
    min_distance: float = 5.0      # metres from the sensor to a car centre
    max_distance: float = 45.0
    min_clutter: int = 4
    max_clutter: int = 12
    min_points: int = 5            # a car with fewer returns becomes DontCare
    max_truncation: float = 0.7    # cars leaving the image more than this are not placed
    lidar: LidarModel = field(default_factory=LidarModel)

    def __post_init__(self):
        if isinstance(self.lidar, dict):
            self.lidar = LidarModel(**self.lidar)
        for name in ('num_train', 'num_val', 'num_test', 'min_cars', 'min_clutter',
                     'min_points'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be >= 0, got {getattr(self, name)}')
        if self.max_cars < self.min_cars or self.max_clutter < self.min_clutter:
            raise ValueError(f'need min_cars <= max_cars and min_clutter <= max_clutter, '
                             f'got cars {self.min_cars}..{self.max_cars}, clutter '
                             f'{self.min_clutter}..{self.max_clutter}')
        if not 0 <= self.empty_ratio <= 1:
            raise ValueError(f'empty_ratio must be in [0, 1], got {self.empty_ratio}')
        if not 3.0 <= self.min_distance < self.max_distance:
            raise ValueError(f'need 3 <= min_distance < max_distance (metres), got '
                             f'{self.min_distance}, {self.max_distance}')


@dataclass
class Frame:
    """One generated frame."""

    points: np.ndarray        # float32[N, 4] x y z intensity, LiDAR frame
    calib: KittiCalib
    labels: KittiLabels       # Car and DontCare lines, camera frame
    image: np.ndarray         # uint8[375, 1242, 3]
    boxes_lidar: np.ndarray   # float64[C, 7] every car (also the DontCare ones)
    car_points: np.ndarray    # int64[C] returns from each car


# ----------------------------------------------------------------------------- scene
def _rectangles_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex quadrilaterals ``float[4, 2]``."""
    for quad in (a, b):
        edges = np.roll(quad, -1, axis=0) - quad
        for normal in np.column_stack([-edges[:, 1], edges[:, 0]]):
            pa, pb = a @ normal, b @ normal
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def _project_box(box_cam, calib: KittiCalib):
    """2D box (x1, y1, x2, y2) of a camera box in image_2, clipped to the image, and its
    truncation (share of the unclipped box outside); None if a corner is behind the camera."""
    corners = camera_box_corners(box_cam)
    if corners[:, 2].min() < 0.5:
        return None
    uvw = np.column_stack([corners, np.ones(8)]) @ calib.P2[:3].T
    uv = uvw[:, :2] / uvw[:, 2:]
    x1, y1 = uv.min(0)
    x2, y2 = uv.max(0)
    width, height = IMAGE_SIZE
    cx1, cx2 = np.clip([x1, x2], 0, width - 1)
    cy1, cy2 = np.clip([y1, y2], 0, height - 1)
    inside = max(cx2 - cx1, 0.0) * max(cy2 - cy1, 0.0)
    return np.array([cx1, cy1, cx2, cy2]), 1.0 - inside / ((x2 - x1) * (y2 - y1))


def _sample_car(rng, cfg: KittiSceneConfig) -> np.ndarray:
    """A LiDAR box (x, y, z, dx, dy, dz, yaw) on the ground, in front of the sensor."""
    distance = rng.uniform(cfg.min_distance, cfg.max_distance)
    azimuth = np.deg2rad(rng.uniform(-45.0, 45.0))  # the camera sees about +-41 degrees
    dims = [rng.normal(3.9, 0.25), rng.normal(1.62, 0.08), rng.normal(1.55, 0.08)]
    if rng.random() < 0.7:  # along the road, either direction
        yaw = rng.choice([0.0, np.pi]) + rng.normal(0.0, 0.08)
    else:
        yaw = rng.uniform(-np.pi, np.pi)
    return np.array([distance * np.cos(azimuth), distance * np.sin(azimuth),
                     -cfg.lidar.sensor_height, *np.clip(dims, 1.2, 6.0), yaw])


def _sample_clutter(rng, height0: float):
    """One unlabelled object: ('pole', (x, y, z0, radius, height)) or ('wall' / 'bin',
    LiDAR box). Walls run along the road at the side; poles and bins stand anywhere."""
    kind = rng.choice(['pole', 'wall', 'bin'], p=[0.5, 0.25, 0.25])
    if kind == 'wall':
        box = [rng.uniform(-50, 50), rng.choice([-1, 1]) * rng.uniform(8, 20), height0,
               rng.uniform(5, 25), rng.uniform(0.3, 1.0), rng.uniform(1.0, 4.0),
               rng.normal(0.0, 0.05)]
        return 'wall', np.array(box)
    distance, azimuth = rng.uniform(4, 50), rng.uniform(-np.pi, np.pi)
    x, y = distance * np.cos(azimuth), distance * np.sin(azimuth)
    if kind == 'pole':
        return 'pole', np.array([x, y, height0, rng.uniform(0.08, 0.25),
                                 rng.uniform(2.5, 7.0)])
    size = rng.uniform(0.5, 0.9)
    return 'bin', np.array([x, y, height0, size, size, rng.uniform(0.8, 1.2),
                            rng.uniform(-np.pi, np.pi)])


def _footprint(kind, params) -> np.ndarray:
    if kind == 'pole':
        x, y, _, r, _ = params
        return bev_corners([x, y, 0, 2 * r, 2 * r, 0, 0.0])
    return bev_corners(params)


def _inflate(box, margin):
    box = np.array(box, dtype=np.float64)
    box[3:5] += 2 * margin
    return box


def _place_cars(rng, cfg: KittiSceneConfig, calib: KittiCalib, count: int):
    """Up to ``count`` cars (camera boxes rounded to label precision, and their 2D boxes
    and truncation), rejection-sampled so that they neither overlap nor leave the image
    more than ``max_truncation``."""
    placed = []  # (box_lidar, box_cam, bbox, truncation)
    for _ in range(count):
        for _attempt in range(50):
            box = _sample_car(rng, cfg)
            # round trip through the printed label so that the scan matches the file
            box_cam = np.round(lidar_to_camera_boxes(box[None], calib.lidar2cam)[0], 2)
            box = camera_to_lidar_boxes(box_cam[None], calib.lidar2cam)[0]
            projected = _project_box(box_cam, calib)
            if projected is None or projected[1] > cfg.max_truncation:
                continue
            footprint = bev_corners(_inflate(box, 0.3))
            if any(_rectangles_overlap(footprint, bev_corners(_inflate(p[0], 0.3)))
                   for p in placed):
                continue
            placed.append((box, box_cam, *projected))
            break
    return placed


def _place_clutter(rng, cfg: KittiSceneConfig, car_boxes, count: int):
    taken = [bev_corners(_inflate(b, 0.5)) for b in car_boxes]
    clutter = []
    for _ in range(count):
        for _attempt in range(20):
            kind, params = _sample_clutter(rng, -cfg.lidar.sensor_height)
            footprint = _footprint(kind, params)
            # keep clear of the sensor, of cars and of other clutter
            if _rectangles_overlap(footprint, bev_corners([0, 0, 0, 4, 4, 0, 0])):
                continue
            if any(_rectangles_overlap(footprint, t) for t in taken):
                continue
            clutter.append((kind, params))
            taken.append(footprint)
            break
    return clutter


# ------------------------------------------------------------------------ ray casting
def _azimuth_columns(footprint: np.ndarray, num_azimuths: int) -> np.ndarray:
    """Indices of the azimuth columns whose rays can meet an object with this ground
    footprint (the sensor is outside it, so it spans less than pi)."""
    centre = np.arctan2(footprint[:, 1].mean(), footprint[:, 0].mean())
    rel = limit_period(np.arctan2(footprint[:, 1], footprint[:, 0]) - centre)
    step = 2 * np.pi / num_azimuths
    first = int(np.floor((centre + rel.min() + np.pi) / step)) - 1
    last = int(np.ceil((centre + rel.max() + np.pi) / step)) + 1
    return np.arange(first, last + 1) % num_azimuths


def _cast_box(dirs: np.ndarray, box):
    """Distance along unit rays from the origin to a LiDAR box (inf where missed) and the
    cosine between ray and the surface normal hit. ``dirs``: ``float[..., 3]``."""
    x, y, z, dx, dy, dz, yaw = box
    c, s = np.cos(yaw), np.sin(yaw)
    rot_t = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # world -> box axes
    origin = rot_t @ -np.array([x, y, z + dz / 2])
    d = dirs @ rot_t.T
    half = np.array([dx, dy, dz]) / 2
    with np.errstate(divide='ignore', invalid='ignore'):
        t1 = (-half - origin) / d
        t2 = (half - origin) / d
    t_near = np.minimum(t1, t2)
    entry = t_near.max(-1)
    hit = (entry <= np.maximum(t1, t2).min(-1)) & (entry > 0)
    axis = t_near.argmax(-1)
    cosine = np.abs(np.take_along_axis(d, axis[..., None], -1)[..., 0])
    return np.where(hit, entry, np.inf), cosine


def _cast_pole(dirs: np.ndarray, pole):
    """Distance to a vertical cylinder (x, y, z0, radius, height) and the incidence cosine."""
    x, y, z0, radius, height = pole
    a = dirs[..., 0] ** 2 + dirs[..., 1] ** 2
    b = -2 * (dirs[..., 0] * x + dirs[..., 1] * y)
    c = x * x + y * y - radius * radius
    disc = b * b - 4 * a * c
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    z = t * dirs[..., 2]
    hit = (disc > 0) & (t > 0) & (z >= z0) & (z <= z0 + height)
    t = np.where(hit, t, np.inf)
    with np.errstate(invalid='ignore'):
        normal_x = (t * dirs[..., 0] - x) / radius
        normal_y = (t * dirs[..., 1] - y) / radius
    cosine = np.abs(np.nan_to_num(normal_x * dirs[..., 0] + normal_y * dirs[..., 1]))
    return t, cosine


def _scan(rng, lidar: LidarModel, cars, clutter):
    """Cast every ray; returns points ``float32[N, 4]``, per-car returns ``int64[C]`` and
    per-car visible ray share ``float64[C]`` (rays reaching it / rays meeting it)."""
    dirs = lidar.ray_directions()  # [B, A, 3]
    num_azimuths = dirs.shape[1]
    with np.errstate(divide='ignore'):
        t_ground = np.where(dirs[..., 2] < 0, -lidar.sensor_height / dirs[..., 2], np.inf)
    best = np.where(t_ground <= lidar.max_range, t_ground, np.inf)  # [B, A]
    owner = np.full(best.shape, -1)        # car index, or -1 for anything else
    material = np.full(best.shape, _GROUND)
    cosine = np.abs(dirs[..., 2])
    reflectance = np.full(best.shape, rng.uniform(0.2, 0.35))  # this road's asphalt

    def merge(cols, t, cos, mat, refl, car):
        closer = t < best[:, cols]  # [B, k]
        best[:, cols] = np.where(closer, t, best[:, cols])
        owner[:, cols] = np.where(closer, car, owner[:, cols])
        material[:, cols] = np.where(closer, mat, material[:, cols])
        cosine[:, cols] = np.where(closer, cos, cosine[:, cols])
        reflectance[:, cols] = np.where(closer, refl, reflectance[:, cols])

    reachable = np.zeros(len(cars), dtype=np.int64)
    for i, box in enumerate(cars):
        x, y, z, dx, dy, dz, yaw = box
        back = -0.05 * dx
        body = np.array([x, y, z, dx, dy, 0.6 * dz, yaw])
        cabin = np.array([x + back * np.cos(yaw), y + back * np.sin(yaw), z + 0.6 * dz,
                          0.5 * dx, 0.85 * dy, 0.4 * dz, yaw])
        cols = _azimuth_columns(bev_corners(box), num_azimuths)
        t_body, cos_body = _cast_box(dirs[:, cols], body)
        t_cabin, cos_cabin = _cast_box(dirs[:, cols], cabin)
        on_cabin = t_cabin < t_body
        t = np.minimum(t_body, t_cabin)
        reachable[i] = np.count_nonzero(t <= lidar.max_range)
        merge(cols, t, np.where(on_cabin, cos_cabin, cos_body),
              np.where(on_cabin, _GLASS, _BODY),
              np.where(on_cabin, 0.05, rng.uniform(0.05, 0.6)), i)
    for kind, params in clutter:
        cols = _azimuth_columns(_footprint(kind, params), num_azimuths)
        if kind == 'pole':
            t, cos = _cast_pole(dirs[:, cols], params)
            mat, refl = _POLE, rng.uniform(0.3, 0.8)
        else:
            t, cos = _cast_box(dirs[:, cols], params)
            mat, refl = (_WALL, rng.uniform(0.1, 0.4)) if kind == 'wall' else \
                (_BIN, rng.uniform(0.1, 0.6))
        merge(cols, t, cos, mat, refl, -1)

    hit = np.isfinite(best) & (best <= lidar.max_range)
    visible = np.bincount(owner[hit & (owner >= 0)], minlength=len(cars))[:len(cars)]
    # returns fade with range and vanish on glass
    lost = rng.random(best.shape) < _DROPOUT[material] + 0.3 * (best / lidar.max_range) ** 2
    keep = hit & ~lost
    ranges = best[keep] + rng.normal(0.0, lidar.range_noise, np.count_nonzero(keep))
    xyz = dirs[keep] * ranges[:, None]
    intensity = reflectance[keep] * (0.3 + 0.7 * cosine[keep]) \
        + rng.normal(0.0, 0.03, len(ranges))
    intensity = np.round(np.clip(intensity, 0.0, 0.99), 2)
    points = np.column_stack([xyz, intensity]).astype(np.float32)
    car_points = np.bincount(owner[keep & (owner >= 0)], minlength=len(cars))[:len(cars)]
    with np.errstate(invalid='ignore', divide='ignore'):
        share = np.where(reachable > 0, visible / np.maximum(reachable, 1), 0.0)
    return points, car_points, share


# ------------------------------------------------------------------------ image
def _depth_colours(depth: np.ndarray) -> np.ndarray:
    """A jet-like colour ramp, near red to far blue, ``uint8[N, 3]``."""
    v = 1.0 - np.clip(depth / 60.0, 0.0, 1.0)
    rgb = np.clip(1.5 - np.abs(4 * v[:, None] - np.array([3.0, 2.0, 1.0])), 0.0, 1.0)
    return (rgb * 255).astype(np.uint8)


def render_image(points: np.ndarray, calib: KittiCalib) -> np.ndarray:
    """The scan as image_2 would see it: ``uint8[375, 1242, 3]``, sky and road halves and
    the points projected with P2 as 2x2 dots, the nearest point on top, coloured by depth."""
    width, height = IMAGE_SIZE
    image = np.empty((height, width, 3), dtype=np.uint8)
    far_ahead = calib.lidar2img @ np.array([1e4, 0.0, 0.0, 1.0])
    horizon = int(np.clip(far_ahead[1] / far_ahead[2], 0, height))
    image[:horizon] = (170, 180, 195)
    image[horizon:] = (85, 85, 90)
    homogeneous = np.column_stack([points[:, :3].astype(np.float64), np.ones(len(points))])
    uvw = homogeneous @ calib.lidar2img[:3].T
    uvw = uvw[uvw[:, 2] > 0.5]
    u = np.floor(uvw[:, 0] / uvw[:, 2]).astype(np.int64)
    v = np.floor(uvw[:, 1] / uvw[:, 2]).astype(np.int64)
    depth = uvw[:, 2]
    u = np.concatenate([u, u + 1, u, u + 1])  # 2x2 dots
    v = np.concatenate([v, v, v + 1, v + 1])
    depth = np.tile(depth, 4)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    u, v, depth = u[inside], v[inside], depth[inside]
    # a depth buffer: per pixel, the first of the points sorted near to far
    order = np.argsort(depth, kind='stable')
    pixel = v[order] * width + u[order]
    _, first = np.unique(pixel, return_index=True)
    nearest = order[first]
    image[v[nearest], u[nearest]] = _depth_colours(depth[nearest])
    return image


# ------------------------------------------------------------------------ frames
def make_frame(cfg: KittiSceneConfig, split: str, index: int) -> Frame:
    """Frame ``index`` of ``split`` ('training' or 'testing'); depends only on
    (cfg, split, index)."""
    rng = np.random.default_rng([cfg.seed, _SPLIT_SEED[split], index])
    calib = KITTI_CALIBS[sorted(KITTI_CALIBS)[rng.integers(len(KITTI_CALIBS))]]
    empty = rng.random() < cfg.empty_ratio
    count = 0 if empty else int(rng.integers(cfg.min_cars, cfg.max_cars + 1))
    cars = _place_cars(rng, cfg, calib, count)
    boxes_lidar = np.array([c[0] for c in cars]).reshape(-1, 7)
    clutter = _place_clutter(rng, cfg, boxes_lidar,
                             int(rng.integers(cfg.min_clutter, cfg.max_clutter + 1)))
    points, car_points, share = _scan(rng, cfg.lidar, boxes_lidar, clutter)

    names, truncated, occluded, alpha, bbox, boxes_cam = [], [], [], [], [], []
    for (_, box_cam, box2d, truncation), n, seen in zip(cars, car_points, share):
        x, _, z, _, _, _, ry = box_cam
        if n < cfg.min_points:  # too few returns to be fair: a region to ignore
            names.append('DontCare')
            truncated.append(-1.0)
            occluded.append(-1)
            alpha.append(-10.0)
            boxes_cam.append([-1000.0, -1000.0, -1000.0, -1.0, -1.0, -1.0, -10.0])
        else:
            names.append('Car')
            truncated.append(truncation)
            occluded.append(0 if seen >= _VISIBLE_SHARE[0] else
                            1 if seen >= _VISIBLE_SHARE[1] else 2)
            alpha.append(float(limit_period(ry - np.arctan2(x, z))))
            boxes_cam.append(box_cam)
        bbox.append(box2d)
    boxes_cam = np.array(boxes_cam).reshape(-1, 7)
    labels = KittiLabels(names, truncated, occluded, alpha, np.array(bbox).reshape(-1, 4),
                         boxes_cam[:, [4, 5, 3]], boxes_cam[:, :3], boxes_cam[:, 6])
    return Frame(points, calib, labels, render_image(points, calib), boxes_lidar,
                 car_points)


def _make_and_write(cfg: KittiSceneConfig, root: Path, job) -> None:
    split, index = job
    frame = make_frame(cfg, split, index)
    name = f'{index:06d}'
    write_points(root / split / 'velodyne' / f'{name}.bin', frame.points)
    write_calib(root / split / 'calib' / f'{name}.txt', frame.calib)
    write_png(root / split / 'image_2' / f'{name}.png', frame.image)
    if split == 'training':
        write_label(root / split / 'label_2' / f'{name}.txt', frame.labels)


def _fill_kitti_set(root: Path, cfg: KittiSceneConfig, progress: bool, workers: int) -> None:
    for split, folders in (('training', ('velodyne', 'calib', 'image_2', 'label_2')),
                           ('testing', ('velodyne', 'calib', 'image_2'))):
        for folder in folders:
            (root / split / folder).mkdir(parents=True)
    (root / 'ImageSets').mkdir()
    num_training = cfg.num_train + cfg.num_val
    jobs = [('training', i) for i in range(num_training)] + \
        [('testing', i) for i in range(cfg.num_test)]
    for _ in ordered_map(partial(_make_and_write, cfg, root), jobs, workers,
                         'synthetic KITTI', 'frame', progress):
        pass
    ids = [f'{i:06d}' for i in range(num_training)]
    sets = {'train': ids[:cfg.num_train], 'val': ids[cfg.num_train:], 'trainval': ids,
            'test': [f'{i:06d}' for i in range(cfg.num_test)]}
    for name, members in sets.items():
        (root / 'ImageSets' / f'{name}.txt').write_text(''.join(m + '\n' for m in members))
    record = {'generator': 'data_converters.synthetic.kitti_lidar', 'config': asdict(cfg)}
    (root / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + '\n')


def generate_kitti(root, cfg: KittiSceneConfig | None = None, overwrite: bool = False,
                   progress: bool = True, workers: int = 1) -> Path:
    """Write a synthetic KITTI set at ``root`` (built beside it, then renamed into place).

    ``overwrite`` replaces an existing set made by this generator; any other existing
    folder is refused. ``workers`` processes make frames; the bytes do not depend on it.
    Returns ``root``.
    """
    cfg = cfg or KittiSceneConfig()
    return build_atomically(
        Path(root), lambda tmp: _fill_kitti_set(tmp, cfg, progress, workers), overwrite)
