"""KITTI object labels (``label_2/*.txt``): read them into arrays and write them back.

One object per line, 15 fields for ground truth and a 16th (score) for detections::

    type truncated occluded alpha  x1 y1 x2 y2  h w l  x y z  rotation_y  [score]

- ``truncated``: 0 (inside the image) .. 1 (leaving it); ``occluded``: 0 fully visible,
  1 partly, 2 largely occluded, 3 unknown.
- ``x1 y1 x2 y2``: 2D box in pixels of the left colour image (``image_2``).
- ``h w l``: box height, width and length in metres (this order in the file).
- ``x y z``: bottom centre of the box in the rectified camera frame (x right, y down,
  z forward); ``rotation_y``: yaw around the camera y axis in [-pi, pi].
- ``DontCare`` lines mark regions to ignore; their 3D fields hold -1 / -1000 / -10.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic_write import atomic_write_text

FIELDS = ('type', 'truncated', 'occluded', 'alpha', 'x1', 'y1', 'x2', 'y2', 'h', 'w', 'l',
          'x', 'y', 'z', 'rotation_y', 'score')
_EXPECTED = ' '.join(FIELDS[:15]) + ' [score]'


@dataclass
class KittiLabels:
    """The N objects of one label file, one row per object, fields in file order."""

    names: list[str]                # N object types ('Car', 'Pedestrian', 'DontCare', ...)
    truncated: np.ndarray           # float64[N]
    occluded: np.ndarray            # int64[N]
    alpha: np.ndarray               # float64[N] observation angle
    bbox: np.ndarray                # float64[N, 4] x1 y1 x2 y2
    hwl: np.ndarray                 # float64[N, 3] h w l (file order)
    location: np.ndarray            # float64[N, 3] x y z, bottom centre, camera frame
    rotation_y: np.ndarray          # float64[N]
    score: np.ndarray | None = None  # float64[N] for detections; None for ground truth
    line: np.ndarray | None = None   # int64[N] line of each object in its file (1-based)

    def __post_init__(self):
        self.names = [str(n) for n in self.names]
        n = len(self.names)
        shapes = {'truncated': (n,), 'occluded': (n,), 'alpha': (n,), 'bbox': (n, 4),
                  'hwl': (n, 3), 'location': (n, 3), 'rotation_y': (n,)}
        if self.score is not None:
            shapes['score'] = (n,)
        if self.line is not None:
            shapes['line'] = (n,)
        for name, shape in shapes.items():
            dtype = np.int64 if name in ('occluded', 'line') else np.float64
            value = np.asarray(getattr(self, name), dtype=dtype)
            if value.size == 0:  # [] for a file without objects
                value = value.reshape(0, *shape[1:])
            if value.shape != shape:
                raise ValueError(f'KittiLabels.{name} must have shape {shape} for '
                                 f'{n} objects, got {value.shape}')
            setattr(self, name, value)

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def empty(cls) -> KittiLabels:
        """A label file without objects (a frame with nothing to detect)."""
        return cls([], [], [], [], np.zeros((0, 4)), np.zeros((0, 3)), np.zeros((0, 3)), [])

    def select(self, keep) -> KittiLabels:
        """The objects picked by a boolean mask or an index array ``keep``."""
        index = np.arange(len(self))[np.asarray(keep)]
        return KittiLabels(
            [self.names[i] for i in index], self.truncated[index], self.occluded[index],
            self.alpha[index], self.bbox[index], self.hwl[index], self.location[index],
            self.rotation_y[index], None if self.score is None else self.score[index],
            None if self.line is None else self.line[index])

    def camera_boxes(self) -> np.ndarray:
        """Boxes as ``float64[N, 7]`` (x, y, z, l, h, w, ry): mmdet3d's
        ``CameraInstance3DBoxes`` layout (bottom centre, sizes along camera x, y, z)."""
        h, w, length = self.hwl.T
        return np.column_stack([self.location, length, h, w, self.rotation_y])


def _number(token: str, field: str, where: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise ValueError(f'{where}: field {field!r} must be a number, got {token!r} '
                         f'(expected: {_EXPECTED})') from None


def parse_label_lines(lines, source='<label>') -> KittiLabels:
    """Parse label lines; blank lines are skipped. ``source`` names the file in errors."""
    rows = []
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        where = f'{source}:{lineno}'
        if len(tokens) not in (15, 16):
            raise ValueError(f'{where}: expected 15 fields ({_EXPECTED}) or 16 with a '
                             f'score, got {len(tokens)}: {line.strip()!r}')
        values = [_number(t, f, where) for t, f in zip(tokens[1:], FIELDS[1:])]
        if values[1] != int(values[1]):
            raise ValueError(f'{where}: field \'occluded\' must be an integer '
                             f'(0, 1, 2, 3 or -1), got {tokens[2]!r}')
        rows.append((tokens[0], values, lineno))
    if not rows:
        return KittiLabels.empty()
    with_score = {len(v) == 15 for _, v, _ in rows}
    if len(with_score) > 1:
        raise ValueError(f'{source}: some lines have a score (16 fields) and some do not; '
                         f'a label file is either ground truth or detections')
    table = np.array([v for _, v, _ in rows], dtype=np.float64)  # [N, 14 or 15]
    return KittiLabels(
        names=[name for name, _, _ in rows], truncated=table[:, 0],
        occluded=table[:, 1].astype(np.int64), alpha=table[:, 2], bbox=table[:, 3:7],
        hwl=table[:, 7:10], location=table[:, 10:13], rotation_y=table[:, 13],
        score=table[:, 14] if with_score == {True} else None,
        line=np.array([lineno for _, _, lineno in rows], dtype=np.int64))


def read_label(path) -> KittiLabels:
    """Read a KITTI ``label_2`` file; an empty file gives zero objects."""
    path = Path(path)
    return parse_label_lines(path.read_text().splitlines(), source=str(path))


def format_label_lines(labels: KittiLabels, precision: int = 2) -> list[str]:
    """One text line per object. Geometry has ``precision`` decimals (KITTI ground
    truth uses 2); scores get at least 4 so that detections keep distinct scores."""
    p = int(precision)
    score_p = max(p, 4)
    lines = []
    for i, name in enumerate(labels.names):
        if not name or any(c.isspace() for c in name):
            raise ValueError(f'object type must be one word, got {name!r} (object {i})')
        numbers = [*labels.bbox[i], *labels.hwl[i], *labels.location[i],
                   labels.rotation_y[i]]
        line = (f'{name} {labels.truncated[i]:.{p}f} {int(labels.occluded[i])} '
                f'{labels.alpha[i]:.{p}f} ' + ' '.join(f'{v:.{p}f}' for v in numbers))
        if labels.score is not None:
            line += f' {labels.score[i]:.{score_p}f}'
        lines.append(line)
    return lines


def write_label(path, labels: KittiLabels, precision: int = 2) -> None:
    """Write ``labels`` as a KITTI label file (atomically; no objects -> empty file)."""
    lines = format_label_lines(labels, precision)
    atomic_write_text(path, ''.join(line + '\n' for line in lines))
