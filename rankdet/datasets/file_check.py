"""Check a dataset's files before training: every missing, empty or truncated file at once.

OpenCV (mmcv's image backend) decodes a truncated JPEG with a warning to an image of the
full size whose missing rows were never decoded (black, or leftover memory), so such an
image trains and evaluates silently; a missing file is only found when a
pipeline first loads it, maybe after hours. :func:`check_files` looks at every file
before the first iteration and raises one :class:`DataCheckError` naming each bad file.

Two modes:

- ``'fast'`` (the default): an image must start with the JPEG or PNG signature and end
  with its end marker (JPEG ``FF D9``, PNG ``IEND``): two small reads per file. A file
  that fails is decoded in full with Pillow before it is reported, so a valid image
  with bytes appended after its end marker is not flagged. Other formats are decoded.
  A point file (``.bin``, float32 records) must exist, be non-empty and hold a whole
  number of records.
- ``'decode'``: every image is decoded in full with Pillow (which, unlike OpenCV,
  refuses truncated data); every point file is read and must hold finite numbers.

Files are checked by a pool of threads (the work is reading), with progress lines for
long sets (:mod:`rankdet.progress`). Good files are remembered in a cache, keyed by path,
size and modification time, so that a second run only ``stat``s them. The cache lives in
``$RANKDET_CACHE_DIR``, else ``$XDG_CACHE_HOME/rankdet``, else ``~/.cache/rankdet``
(never in the data folder, which may be read-only); it is optional: when it cannot be
written, every run checks every file.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..atomic_write import atomic_write_json, atomic_write_text
from ..progress import Progress

MODES = ('fast', 'decode')
CACHE_VERSION = 1
MAX_LISTED = 100  # bad files named in the error; all of them go to the report file
_TAIL_BYTES = 64

_JPEG_START = b'\xff\xd8\xff'
_JPEG_END = b'\xff\xd9'
_PNG_START = b'\x89PNG\r\n\x1a\n'
_PNG_END = b'IEND\xaeB`\x82'


class DataCheckError(ValueError):
    """Files of a dataset are missing or unusable. ``bad``: ``[(path, problem), ...]``."""

    def __init__(self, message: str, bad: list[tuple[str, str]]):
        super().__init__(message)
        self.bad = bad


def check_mode(value, owner: str) -> str | None:
    """The check mode of a config switch: True -> 'fast', False/None -> None (off)."""
    if value is True:
        return 'fast'
    if value is False or value is None:
        return None
    if value in MODES:
        return value
    raise ValueError(f"{owner}: check_files must be True, False, 'fast' or 'decode', "
                     f'got {value!r}')


# ---- one file ----

def _read_ends(path: str) -> tuple[int, bytes, bytes]:
    """File size, first 8 bytes and last ``_TAIL_BYTES`` bytes."""
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        f.seek(max(0, size - _TAIL_BYTES))
        tail = f.read(_TAIL_BYTES)
    return size, head, tail


def _decode_problem(path: str) -> str | None:
    """Decode the whole image with Pillow (OpenCV for formats Pillow does not know)."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as image:
            image.load()
        return None
    except UnidentifiedImageError:
        pass
    except (OSError, SyntaxError, ValueError) as err:  # Pillow's "image file is truncated"
        return f'does not decode: {err}'
    try:
        import cv2
        import numpy as np
        decoded = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    except Exception:  # noqa: BLE001 - any failure means the same: not an image
        decoded = None
    return None if decoded is not None else 'not an image file (neither Pillow nor ' \
        'OpenCV can read it)'


def image_problem(path: str, mode: str = 'fast') -> str | None:
    """What is wrong with the image file at ``path``, or None if it is usable."""
    try:
        size, head, tail = _read_ends(path)
    except FileNotFoundError:
        return 'missing'
    except OSError as err:
        return f'cannot be read: {err.strerror or err}'
    if size == 0:
        return 'empty (0 bytes)'
    if mode == 'fast':
        tail = tail.rstrip(b'\x00')  # some writers pad with zeros after the end marker
        if head.startswith(_JPEG_START):
            if tail.endswith(_JPEG_END):
                return None
            problem = _decode_problem(path)
            return problem and (f'truncated JPEG: no end-of-image marker (FF D9) at its '
                                f'end ({size} bytes); {problem}')
        if head.startswith(_PNG_START):
            if tail.endswith(_PNG_END):
                return None
            problem = _decode_problem(path)
            return problem and (f'truncated PNG: no IEND chunk at its end ({size} '
                                f'bytes); {problem}')
    return _decode_problem(path)


def points_problem(path: str, record_bytes: int, mode: str = 'fast') -> str | None:
    """What is wrong with the point file at ``path`` (records of ``record_bytes``: 16 for
    KITTI's x, y, z, intensity in float32), or None if it is usable."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return 'missing'
    except OSError as err:
        return f'cannot be read: {err.strerror or err}'
    if size == 0:
        return 'empty (0 bytes, no points)'
    if size % record_bytes:
        return (f'{size} bytes is not a whole number of points of {record_bytes} bytes '
                f'({record_bytes // 4} float32 values): truncated, or the wrong load_dim')
    try:
        with open(path, 'rb') as f:
            data = f.read() if mode == 'decode' else f.read(1)
    except OSError as err:
        return f'cannot be read: {err.strerror or err}'
    if mode == 'decode':
        import numpy as np
        values = np.frombuffer(data, dtype='<f4')
        bad = int((~np.isfinite(values)).sum())
        if bad:
            return f'{bad} of its {len(values)} values are NaN or infinite'
    return None


# ---- the cache of good files ----

def cache_dir() -> Path:
    """Where rankdet keeps its caches (outside every data folder)."""
    if os.environ.get('RANKDET_CACHE_DIR'):
        return Path(os.environ['RANKDET_CACHE_DIR'])
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'rankdet'


def _cache_file(kind: str, mode: str, folder: str) -> Path:
    key = hashlib.sha1(f'{CACHE_VERSION}:{kind}:{mode}:{folder}'.encode()).hexdigest()
    return cache_dir() / 'data_check' / f'{key[:20]}.json'


def _load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data['files'] if data.get('version') == CACHE_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no cache yet, or a damaged one: check again


def _stat(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


# ---- many files ----

def check_files(paths: Sequence[str], problem: Callable[[str], str | None], kind: str,
                mode: str, owner: str, echo: Callable[[str], None] | None = None,
                workers: int | None = None, use_cache: bool = True) -> int:
    """Check every file of ``paths``; raise :class:`DataCheckError` naming all bad ones.

    Args:
        paths: the files (duplicates are checked once).
        problem: ``problem(path)`` -> None, or what is wrong with the file.
        kind: what the files are ('image', 'point'), for messages and the cache key.
        mode: how the files are checked ('fast', 'decode'): part of the cache key.
        owner: who asks (dataset class and annotation file), the start of the error.
        echo: receives progress lines for long checks (default: stderr).
        workers: threads (default: 8 for 'fast', which waits on reads; the number of
            CPUs for 'decode').
        use_cache: skip files the cache knows to be good, and remember new good ones.

    Returns:
        The number of files read (0 when the cache knew them all).
    """
    unique = list(dict.fromkeys(os.path.abspath(p) for p in paths))
    if not unique:
        return 0
    folder = os.path.commonpath([os.path.dirname(p) for p in unique])
    cache_path = _cache_file(kind, mode, folder)
    known = _load_cache(cache_path) if use_cache else {}
    stats = {p: _stat(p) for p in unique}
    todo = [p for p in unique
            if stats[p] is None or known.get(os.path.relpath(p, folder)) != stats[p]]

    bad = []
    if todo:
        progress = Progress(len(todo), f'{owner}: checking {len(todo)} {kind} files',
                            echo=echo)
        workers = workers or (os.cpu_count() or 1 if mode.startswith('decode') else 8)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for path, found in zip(todo, pool.map(problem, todo)):
                if found:
                    bad.append((path, found))
                progress.update()
        progress.close()
    if use_cache and todo:
        bad_paths = {p for p, _ in bad}
        for path in todo:
            if path not in bad_paths and stats[path] is not None:
                known[os.path.relpath(path, folder)] = stats[path]
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(cache_path, dict(version=CACHE_VERSION, kind=kind, mode=mode,
                                               folder=folder, files=known), indent=None)
        except OSError:
            pass  # the cache only saves time; a read-only home must not stop training
    if bad:
        raise DataCheckError(_message(bad, len(unique), kind, owner), bad)
    return len(todo)


def _message(bad, total, kind, owner) -> str:
    lines = [f'{owner}: {len(bad)} of {total} {kind} files are unusable; fix or remove '
             f'them (or turn this check off with the dataset option check_files=False):']
    lines += [f'  {path}: {problem}' for path, problem in bad[:MAX_LISTED]]
    if len(bad) > MAX_LISTED:
        report = cache_dir() / 'data_check' / 'last_bad_files.txt'
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(report, ''.join(f'{p}: {q}\n' for p, q in bad))
            where = f'all {len(bad)} are listed in {report}'
        except OSError:
            where = 'the list could not be written to the cache folder'
        lines.append(f'  ... and {len(bad) - MAX_LISTED} more ({where})')
    if all(problem == 'missing' for _, problem in bad) and len(bad) == total:
        lines.append('  (every file is missing: check data_root and data_prefix)')
    return '\n'.join(lines)


def check_image_files(paths: Sequence[str], mode: str, owner: str, **kwargs) -> int:
    """:func:`check_files` for images (:func:`image_problem`)."""
    from PIL import ImageFile

    # Pillow must refuse truncated data while it checks, even if a config allowed it
    allowed = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        return check_files(paths, lambda path: image_problem(path, mode), 'image', mode,
                           owner, **kwargs)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = allowed


def check_point_files(paths: Sequence[str], record_bytes: int, mode: str, owner: str,
                      **kwargs) -> int:
    """:func:`check_files` for point files of ``record_bytes`` per point
    (:func:`points_problem`)."""
    # the record size is part of the cache key: a file good for one load_dim may not be
    return check_files(paths, lambda path: points_problem(path, record_bytes, mode),
                       'point', f'{mode}:{record_bytes}', owner, **kwargs)


def entries_in_use(dataset, data_list: list) -> list:
    """The entries of ``data_list`` (an mmengine dataset's, after ``filter_data``) that
    the dataset keeps: its ``indices`` subset, if it has one (mmengine's own rule)."""
    if getattr(dataset, '_indices', None) is None:
        return data_list
    saved, dataset.data_list = dataset.data_list, data_list
    try:
        return dataset._get_unserialized_subset(dataset._indices)
    finally:
        dataset.data_list = saved
