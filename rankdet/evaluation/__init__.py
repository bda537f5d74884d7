"""KITTI object evaluation on the CPU, and the metrics that show evaluation progress.

``kitti_eval`` needs numpy here and numba when it runs. Importing this package
registers ``RankCocoMetric`` in mmdet's ``METRICS`` when mmdet is installed, and
``RankKittiMetric`` in mmdet3d's when mmdet3d is.
"""
import importlib.util

from .kitti_eval import kitti_eval

__all__ = ['kitti_eval']

if importlib.util.find_spec('mmdet') is not None:
    from .coco_metric import RankCocoMetric  # noqa: F401  registers the metric
    __all__.append('RankCocoMetric')

if importlib.util.find_spec('mmdet3d') is not None:
    from .kitti_metric import RankKittiMetric  # noqa: F401  registers the metric
    __all__.append('RankKittiMetric')
