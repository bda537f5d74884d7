"""``RankCocoMetric``: mmdet's ``CocoMetric`` that shows the progress of a long evaluation.

pycocotools matches detections image by image (``COCOeval.evaluate``): about a minute
on COCO val2017 after the last test iteration, with no sign of life. This metric is
``CocoMetric`` with the same arguments, numbers and keys (``coco/bbox_mAP``, ...); its
matching reports, when it runs longer than a few seconds, how far it is and the time
left (:class:`rankdet.progress.Progress`, through the run's logger)::

    val_evaluator = dict(type='RankCocoMetric', ann_file=data_root + ann_file, metric='bbox')
"""
from typing import Dict

import mmdet.evaluation.metrics.coco_metric as coco_metric_module
from mmdet.datasets.api_wrappers import COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.logging import print_log

from ..progress import Progress

__all__ = ['ProgressCOCOeval', 'RankCocoMetric']


class ProgressCOCOeval(COCOeval):
    """pycocotools' ``COCOeval`` counting its per-image work: the overlaps of each
    (image, category) and the matching of each (category, area range, image)."""

    def evaluate(self):
        p = self.params
        images = len(set(p.imgIds))
        categories = len(set(p.catIds)) if p.useCats else 1
        self._progress = Progress(images * categories * (1 + len(p.areaRng)),
                                  f'COCO evaluation of {images} images (per-image matching)',
                                  echo=lambda line: print_log(line, logger='current'))
        super().evaluate()
        self._progress.close()

    def computeIoU(self, imgId, catId):  # noqa: N802 - pycocotools' names
        self._progress.update()
        return super().computeIoU(imgId, catId)

    def computeOks(self, imgId, catId):  # noqa: N802
        self._progress.update()
        return super().computeOks(imgId, catId)

    def evaluateImg(self, imgId, catId, aRng, maxDet):  # noqa: N802, N803
        self._progress.update()
        return super().evaluateImg(imgId, catId, aRng, maxDet)


@METRICS.register_module()
class RankCocoMetric(CocoMetric):
    """``CocoMetric`` whose pycocotools matching shows progress; arguments as
    ``CocoMetric`` (``use_mp_eval=True``, mmdet's multi-process matching, is left as
    mmdet has it, without progress)."""

    def compute_metrics(self, results: list) -> Dict[str, float]:
        # CocoMetric builds its COCOeval inside a 200-line method: swap the class it
        # finds in its module for the duration of the call rather than copy the method
        original = coco_metric_module.COCOeval
        coco_metric_module.COCOeval = ProgressCOCOeval
        try:
            return super().compute_metrics(results)
        finally:
            coco_metric_module.COCOeval = original
