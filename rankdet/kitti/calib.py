"""KITTI object calibration files (``calib/*.txt``): read and write.

Seven lines ``KEY: numbers`` (row-major)::

    P0 P1 P2 P3     3x4 projections of the rectified cameras (P2: left colour, image_2)
    R0_rect         3x3 rectifying rotation of the reference camera
    Tr_velo_to_cam  3x4 LiDAR -> (unrectified) reference camera
    Tr_imu_to_velo  3x4 IMU -> LiDAR

A LiDAR point ``X`` (homogeneous, 4-vector) reaches pixel ``P2 @ R0_rect @ Tr_velo_to_cam @ X``.
Like mmdet3d's KITTI converter, :class:`KittiCalib` holds every matrix as 4x4 (P and
Tr get a ``[0, 0, 0, 1]`` row, R0_rect a 1 on the diagonal), so that these products
are plain matrix products.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic_write import atomic_write_text

# key -> shape of the numbers in the file
CALIB_KEYS = {'P0': (3, 4), 'P1': (3, 4), 'P2': (3, 4), 'P3': (3, 4), 'R0_rect': (3, 3),
              'Tr_velo_to_cam': (3, 4), 'Tr_imu_to_velo': (3, 4)}


def _to_4x4(matrix) -> np.ndarray:
    out = np.eye(4)
    matrix = np.asarray(matrix, dtype=np.float64)
    out[:matrix.shape[0], :matrix.shape[1]] = matrix
    return out


@dataclass
class KittiCalib:
    """The matrices of one calib file, each ``float64[4, 4]``."""

    P0: np.ndarray
    P1: np.ndarray
    P2: np.ndarray
    P3: np.ndarray
    R0_rect: np.ndarray
    Tr_velo_to_cam: np.ndarray
    Tr_imu_to_velo: np.ndarray

    def __post_init__(self):
        for key, shape in CALIB_KEYS.items():
            value = np.asarray(getattr(self, key), dtype=np.float64)
            if value.shape not in (shape, (4, 4)):
                raise ValueError(f'KittiCalib.{key} must be {shape[0]}x{shape[1]} or 4x4, '
                                 f'got shape {value.shape}')
            setattr(self, key, _to_4x4(value[:shape[0], :shape[1]]))

    @property
    def lidar2cam(self) -> np.ndarray:
        """LiDAR -> rectified camera frame, ``R0_rect @ Tr_velo_to_cam`` (mmdet3d's
        ``images['CAM2']['lidar2cam']``; the frame of label boxes)."""
        return self.R0_rect @ self.Tr_velo_to_cam

    @property
    def lidar2img(self) -> np.ndarray:
        """LiDAR -> image_2 pixels (homogeneous), ``P2 @ R0_rect @ Tr_velo_to_cam``."""
        return self.P2 @ self.lidar2cam


def parse_calib_lines(lines, source='<calib>') -> KittiCalib:
    """Parse calib lines; blank lines are skipped, keys other than the seven are ignored."""
    found = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f'{source}:{lineno}'
        key, sep, rest = line.partition(':')
        key = key.strip()
        if not sep:
            raise ValueError(f"{where}: expected 'KEY: numbers', got {line.strip()!r}")
        if key not in CALIB_KEYS:
            continue
        shape = CALIB_KEYS[key]
        tokens = rest.split()
        if len(tokens) != shape[0] * shape[1]:
            raise ValueError(f'{where}: {key} needs {shape[0] * shape[1]} numbers '
                             f'({shape[0]}x{shape[1]}, row-major), got {len(tokens)}')
        try:
            found[key] = np.array([float(t) for t in tokens]).reshape(shape)
        except ValueError:
            raise ValueError(f'{where}: {key} must hold numbers, got {rest.strip()!r}') \
                from None
    missing = [k for k in CALIB_KEYS if k not in found]
    if missing:
        raise ValueError(f'{source}: missing calibration key(s) {missing}; a KITTI calib '
                         f'file has {list(CALIB_KEYS)}')
    return KittiCalib(**found)


def read_calib(path) -> KittiCalib:
    """Read a KITTI object ``calib`` file."""
    path = Path(path)
    return parse_calib_lines(path.read_text().splitlines(), source=str(path))


def format_calib_lines(calib: KittiCalib) -> list[str]:
    """The seven lines in KITTI's own number format (``%.12e``)."""
    lines = []
    for key, (rows, cols) in CALIB_KEYS.items():
        values = getattr(calib, key)[:rows, :cols].reshape(-1)
        lines.append(f'{key}: ' + ' '.join(f'{v:.12e}' for v in values))
    return lines


def write_calib(path, calib: KittiCalib) -> None:
    """Write ``calib`` as a KITTI calib file (atomically)."""
    atomic_write_text(path, ''.join(line + '\n' for line in format_calib_lines(calib)))
