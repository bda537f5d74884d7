"""KITTI object evaluation on the CPU and its mmengine metric.

``kitti_eval`` needs numpy here and numba when it runs. Importing this package
registers ``RankKittiMetric`` in mmdet3d's ``METRICS`` when mmdet3d is installed.
"""
import importlib.util

from .kitti_eval import kitti_eval

__all__ = ['kitti_eval']

if importlib.util.find_spec('mmdet3d') is not None:
    from .kitti_metric import RankKittiMetric  # noqa: F401  registers the metric
    __all__.append('RankKittiMetric')
