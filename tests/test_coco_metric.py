"""RankCocoMetric: mmdet's CocoMetric with progress for long evaluations; the same numbers.
Real coco128 ground truth against jittered copies of it.
"""
import importlib
import itertools
import json
import logging

import numpy as np
import pytest

pytest.importorskip('mmdet')
pytest.importorskip('pycocotools')

import rankdet.registration  # noqa: E402,F401  registers RankCocoMetric
from mmdet.evaluation.metrics import CocoMetric  # noqa: E402
from mmdet.registry import METRICS  # noqa: E402

DEFAULT_SCOPE = 'mmdet'  # RankCocoMetric is mmdet's (conftest.py keeps the scope per test)


def detections(ann_file):
    """One (gt, prediction) per image, as CocoMetric.process stores them: each object
    found with a jittered box, plus a false positive; distinct scores."""
    coco = json.loads(ann_file.read_text())
    cat_ids = sorted(c['id'] for c in coco['categories'])
    rng = np.random.default_rng(0)
    results = []
    for image in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        boxes = np.array([a['bbox'] for a in anns] + [[10, 10, 50, 40]], dtype=float)
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
        boxes += rng.normal(0, 3, boxes.shape)
        labels = [cat_ids.index(a['category_id']) for a in anns] + [0]
        results.append((dict(img_id=image['id'], width=image['width'],
                             height=image['height']),
                        dict(img_id=image['id'], bboxes=boxes.astype(np.float32),
                             scores=rng.uniform(0.05, 1, len(boxes)).astype(np.float32),
                             labels=np.array(labels))))
    classes = tuple(c['name'] for c in sorted(coco['categories'], key=lambda c: c['id']))
    return results, classes


def build(metric_type, ann_file, classes):
    metric = METRICS.build(dict(type=metric_type, ann_file=str(ann_file), metric='bbox'))
    metric.dataset_meta = dict(classes=classes)
    return metric


@pytest.fixture
def logged():
    from mmengine.logging import MMLogger

    class Collect(logging.Handler):
        lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Collect(logging.INFO)
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_same_numbers_as_coco_metric_and_quiet_when_short(coco128_root, logged):
    ann_file = coco128_root / 'annotations' / 'instances_train2017.json'
    results, classes = detections(ann_file)
    ours = build('RankCocoMetric', ann_file, classes)
    assert isinstance(ours, CocoMetric)
    got = ours.compute_metrics(results)
    expected = build('CocoMetric', ann_file, classes).compute_metrics(results)
    assert got == expected and got['bbox_mAP'] > 0.3
    assert not [line for line in logged if 'COCO evaluation' in line]
    module = importlib.import_module('mmdet.evaluation.metrics.coco_metric')
    assert module.COCOeval.__name__ == 'COCOeval'  # mmdet's own class is back


def test_long_matching_shows_progress_and_the_time_left(coco128_root, logged, monkeypatch):
    from rankdet import progress

    class Slow(progress.Progress):  # every image and category seems to take 0.1 s
        def __init__(self, *args, **kwargs):
            ticks = itertools.count()
            super().__init__(*args, clock=lambda: next(ticks) / 10, **kwargs)

    monkeypatch.setattr(importlib.import_module('rankdet.evaluation.coco_metric'),
                        'Progress', Slow)
    ann_file = coco128_root / 'annotations' / 'instances_train2017.json'
    results, classes = detections(ann_file)
    build('RankCocoMetric', ann_file, classes).compute_metrics(results)
    lines = [line for line in logged if line.startswith('COCO evaluation')]
    images, steps = 128, 128 * 80 * (1 + 4)  # IoUs, then matching in 4 area ranges
    assert lines[0] == (f'COCO evaluation of {images} images (per-image matching): '
                        f'50/{steps} (0%), 5 s, about 1 h 25 min left')
    assert lines[-1] == (f'COCO evaluation of {images} images (per-image matching): '
                         f'done, {steps} in 1 h 25 min')
    assert len(lines) == 2 + (steps * 0.1 - 5) // 15
