"""The data of ``tools/compare.py``: synthetic sets written (once) under a data folder,
coco128 read where it lies.

A synthetic set is reused when its ``SYNTHETIC.json`` records the sizes the profile asks
for, and rebuilt (atomically, by the generators) when it records others, so that a
profile never silently runs on a set of the wrong size.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Iterable

from .experiments import DataSpec

COCO128_FILES = ('annotations/instances_train2017.json', 'train2017')


def _same_record(root: Path, cfg) -> bool | None:
    """Whether the set at ``root`` was generated with ``cfg``; None if ``root`` holds no
    synthetic-set record."""
    marker = root / 'SYNTHETIC.json'
    if not marker.is_file():
        return None
    try:
        recorded = json.loads(marker.read_text())['config']
    except (ValueError, KeyError) as error:
        raise ValueError(f'{marker}: not a rankdet synthetic-set record ({error}); '
                         f'delete {root} to have it rebuilt') from error
    return recorded == json.loads(json.dumps(asdict(cfg)))  # tuples read back as lists


def synthetic_coco(root: Path, num_train: int, num_val: int, progress: bool = True,
                   workers: int = 2) -> Path:
    """The synthetic COCO shapes set at ``root`` with these sizes (default generator
    settings otherwise), written unless it is there already."""
    from rankdet.synthetic import CocoShapesConfig, generate_coco

    cfg = CocoShapesConfig(num_train=num_train, num_val=num_val)
    same = _same_record(root, cfg)
    if same:
        return root
    return generate_coco(root, cfg, overwrite=same is not None, progress=progress,
                         workers=workers)


def synthetic_kitti(root: Path, num_train: int, num_val: int, progress: bool = True,
                    workers: int = 2) -> Path:
    """The synthetic KITTI set at ``root`` with these sizes, converted for mmdet3d (info
    files and GT database), written unless it is there already."""
    from data_converters.kitti_converter import kitti_data_prep
    from rankdet.synthetic import KittiSceneConfig, generate_kitti

    cfg = KittiSceneConfig(num_train=num_train, num_val=num_val, num_test=0)
    same = _same_record(root, cfg)
    if not same:
        generate_kitti(root, cfg, overwrite=same is not None, progress=progress,
                       workers=workers)
    if not (root / 'kitti_infos_val.pkl').is_file() or not (
            root / 'kitti_dbinfos_train.pkl').is_file():
        kitti_data_prep(root, progress=progress)
    return root


def check_coco128(root: Path) -> Path:
    """``root`` if it holds coco128 (COCO layout), else a FileNotFoundError naming what
    is missing."""
    missing = [name for name in COCO128_FILES if not (root / name).exists()]
    if missing:
        raise FileNotFoundError(
            f'coco128 not found at {root}: missing {", ".join(missing)}; pass '
            f'--coco128-root (the shared sample data is ../shared/data/coco128)')
    return root


def prepare_data(spec: DataSpec, needed: Iterable[str], data_dir, coco128_root,
                 progress: bool = True) -> Dict[str, Path]:
    """The roots of the data sets named in ``needed`` (``coco-synthetic``, ``coco128``,
    ``kitti-synthetic``), synthetic ones written under ``data_dir`` if absent."""
    data_dir = Path(data_dir)
    roots = {}
    for name in sorted(set(needed)):
        if name == 'coco-synthetic':
            roots[name] = synthetic_coco(data_dir / 'coco', spec.coco_train, spec.coco_val,
                                         progress)
        elif name == 'kitti-synthetic':
            roots[name] = synthetic_kitti(data_dir / 'kitti', spec.kitti_train,
                                          spec.kitti_val, progress)
        elif name == 'coco128':
            roots[name] = check_coco128(Path(coco128_root))
        else:
            raise ValueError(f'unknown data set {name!r}; expected coco-synthetic, '
                             f'coco128 or kitti-synthetic')
    return roots
