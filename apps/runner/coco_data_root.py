"""Pointing a 2D (COCO-format) config at a data folder: the data sets and the COCO
evaluators of ``make demo``, ``tools/compare.py``'s jobs and the tests."""
from pathlib import Path


def point_at_data(cfg, data_root) -> None:
    """Make every dataset and COCO evaluator of ``cfg`` read from ``data_root``."""
    root = f'{Path(data_root)}/'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            cfg[key].dataset.data_root = root
    for key, loader in (('val_evaluator', 'val_dataloader'),
                        ('test_evaluator', 'test_dataloader')):
        if cfg.get(key) and cfg.get(loader):
            cfg[key].ann_file = root + cfg[loader].dataset.ann_file
