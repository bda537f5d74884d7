"""rankdet's mmdet datasets; importing this registers them in mmdet's DATASETS."""
from .checked_coco_dataset import CheckedCocoDataset

__all__ = ['CheckedCocoDataset']
