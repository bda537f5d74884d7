"""KITTI object evaluation on the CPU, and the metrics that show evaluation progress.

``kitti_eval`` needs numpy here and numba when it runs; importing this package imports no
OpenMMLab package. The metrics, ``RankCocoMetric`` (mmdet's ``METRICS``,
:mod:`rankdet.evaluation.coco_metric`) and ``RankKittiMetric`` (mmdet3d's,
:mod:`rankdet.evaluation.kitti_metric`), are registered by ``import rankdet.registration``.
"""
from .kitti_eval import kitti_eval

__all__ = ['kitti_eval']
