"""The data of ``tools/compare.py``: synthetic sets written (once) under a data folder,
in three disjoint parts: train and val from generator seed 0 (``<data_dir>/coco``,
``<data_dir>/kitti``), test from generator seed 1 (the val split of
``<data_dir>/coco-test``, ``<data_dir>/kitti-test``).

A synthetic set is reused when its ``SYNTHETIC.json`` records the sizes the profile asks
for, and rebuilt (atomically, by the generators) when it records others, so that a
profile never silently runs on a set of the wrong size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable

from apps.synthetic_record import same_synthetic_record

from .experiments import DataSpec

#: the generator seed of the train/val sets; the test sets use TEST_SEED
SEED, TEST_SEED = 0, 1


def synthetic_coco(root: Path, num_train: int, num_val: int, progress: bool = True,
                   workers: int = 2, seed: int = SEED) -> Path:
    """The synthetic COCO shapes set at ``root`` with these sizes and generator seed
    (default settings otherwise), written unless it is there already."""
    from data_converters.synthetic import CocoShapesConfig, generate_coco

    cfg = CocoShapesConfig(num_train=num_train, num_val=num_val, seed=seed)
    same = same_synthetic_record(root, cfg)
    if same:
        return root
    return generate_coco(root, cfg, overwrite=same is not None, progress=progress,
                         workers=workers)


def synthetic_kitti(root: Path, num_train: int, num_val: int, progress: bool = True,
                    workers: int = 2, seed: int = SEED) -> Path:
    """The synthetic KITTI set at ``root`` with these sizes and generator seed, converted
    for mmdet3d (info files and GT database), written unless it is there already."""
    from data_converters.kitti_converter import kitti_data_prep
    from data_converters.synthetic import KittiSceneConfig, generate_kitti

    cfg = KittiSceneConfig(num_train=num_train, num_val=num_val, num_test=0, seed=seed)
    same = same_synthetic_record(root, cfg)
    if not same:
        generate_kitti(root, cfg, overwrite=same is not None, progress=progress,
                       workers=workers)
    if not (root / 'kitti_infos_val.pkl').is_file() or not (
            root / 'kitti_dbinfos_train.pkl').is_file():
        kitti_data_prep(root, progress=progress)
    return root


def prepare_data(spec: DataSpec, needed: Iterable[str], data_dir,
                 progress: bool = True) -> Dict[str, Path]:
    """The roots of the data sets named in ``needed`` (``coco-synthetic``,
    ``kitti-synthetic``) and of their test sets (``<name>-test``), written under
    ``data_dir`` if absent."""
    data_dir = Path(data_dir)
    roots = {}
    for name in sorted(set(needed)):
        if name == 'coco-synthetic':
            roots[name] = synthetic_coco(data_dir / 'coco', spec.coco_train, spec.coco_val,
                                         progress)
            # the test images: seed 1's val split (its one training image is not used)
            roots[name + '-test'] = synthetic_coco(data_dir / 'coco-test', 1, spec.coco_test,
                                                   progress, seed=TEST_SEED)
        elif name == 'kitti-synthetic':
            roots[name] = synthetic_kitti(data_dir / 'kitti', spec.kitti_train,
                                          spec.kitti_val, progress)
            roots[name + '-test'] = synthetic_kitti(data_dir / 'kitti-test', 1,
                                                    spec.kitti_test, progress, seed=TEST_SEED)
        else:
            raise ValueError(f'unknown data set {name!r}; expected coco-synthetic or '
                             f'kitti-synthetic')
    return roots
