"""``RankKittiMetric``: mmdet3d's ``KittiMetric`` evaluated on the CPU.

mmdet3d's ``KittiMetric`` formats predictions into KITTI annotation dicts and calls
mmdet3d's ``kitti_eval``, whose BEV and 3D overlaps need numba-CUDA. This metric keeps
everything but that call, which goes to :func:`rankdet.evaluation.kitti_eval.kitti_eval`
(same inputs, same keys and numbers, numba on the CPU; progress with the time left
when it runs longer than a few seconds)::

    val_evaluator = dict(type='RankKittiMetric', ann_file=data_root + 'kitti_infos_val.pkl',
                         metric='bbox')
"""
from typing import Dict, List, Optional

from mmdet3d.evaluation.metrics import KittiMetric
from mmdet3d.registry import METRICS
from mmengine.logging import MMLogger, print_log

from .kitti_eval import kitti_eval

__all__ = ['RankKittiMetric']


@METRICS.register_module()
class RankKittiMetric(KittiMetric):
    """KITTI metric whose evaluation runs on the CPU; arguments as ``KittiMetric``."""

    def kitti_evaluate(self,
                       results_dict: dict,
                       gt_annos: List[dict],
                       metric: Optional[str] = None,
                       classes: Optional[List[str]] = None,
                       logger: Optional[MMLogger] = None) -> Dict[str, float]:
        """``KittiMetric.kitti_evaluate`` with rankdet's ``kitti_eval``.

        Args:
            results_dict (dict): formatted predictions per prediction type
                ('pred_instances_3d', 'pred_instances'): lists of KITTI dicts.
            gt_annos (list[dict]): ground truth of each frame.
            metric (str, optional): 'bbox' (2D, BEV and 3D) or 'img_bbox' (2D only).
            classes (list[str], optional): classes to evaluate.
            logger (MMLogger, optional): where the result table is printed.

        Returns:
            dict[str, float]: ``{prediction type}/KITTI/...`` APs, 4 decimals.
        """
        ap_dict = dict()
        for name in results_dict:
            if name == 'pred_instances' or metric == 'img_bbox':
                eval_types = ['bbox']
            else:
                eval_types = ['bbox', 'bev', '3d']
            ap_result_str, ap_dict_ = kitti_eval(
                gt_annos, results_dict[name], classes, eval_types=eval_types,
                echo=lambda line: print_log(line, logger=logger or 'current'))
            for ap_type, ap in ap_dict_.items():
                ap_dict[f'{name}/{ap_type}'] = float(f'{ap:.4f}')
            print_log(f'Results of {name}:\n' + ap_result_str, logger=logger)
        return ap_dict
