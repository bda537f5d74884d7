"""Pointing a 3D (KITTI-format) config at a data folder: the data sets, the GT-sampling
database and the evaluators of ``make demo``, ``tools/compare.py``'s jobs and the tests.
The data root is any KITTI-format folder with mmdet3d's info files: the synthetic sets of
``tools/make_synthetic.py`` and ``make demo``, the real sample in
``../shared/data/kitti_sample`` (converted) or KITTI."""
from __future__ import annotations

from .reroot import reroot

__all__ = ['with_data_root']


def with_data_root(cfg, data_root) -> None:
    """Point a config's datasets, GT-sampling database and evaluators at ``data_root``.

    Every string of the config that starts with its ``data_root`` is rewritten to start
    with the new one (paths nested in pipelines, such as the GT-sampling database's,
    included). ``cfg`` is changed in place.
    """
    old = cfg.get('data_root')
    if not old:
        raise KeyError(f'config {cfg.filename} has no data_root to replace')
    new = str(data_root).rstrip('/') + '/'

    for key in list(cfg.keys()):
        cfg[key] = reroot(cfg[key], old, new)
