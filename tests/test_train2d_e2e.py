"""End to end on real COCO images (../shared/data/coco128), on CPU: tools/train.py trains
the ranking RetinaNet and ATSS demos, the loss falls, a checkpoint is written,
tools/test.py reports pycocotools' COCO AP, tools/analyze_pairs.py reports the reverse
pairs (for RetinaNet in a fresh process, where the checkpoint must load without the
training run's state), and --resume continues from the checkpoint.

Kept small to stay near a minute per detector on two cores: four fixed images at short
side 128, batch 2, no flipping, 24 iterations then 6 more on resume.
"""
import importlib.util
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip('mmdet')
pytest.importorskip('pycocotools')

ROOT = Path(__file__).resolve().parents[1]


def load_tool(name):
    """tools/<name>.py as a module (a plain ``import test`` would find Python's own)."""
    spec = importlib.util.spec_from_file_location(f'rankdet_tool_{name}',
                                                  ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool = load_tool('train')
test_tool = load_tool('test')

NUM_IMAGES = 4
ITERS = 24
MORE_ITERS = 6
SMALL = '(213,128)'  # (long, short) side limits of mmdet's Resize

TRAIN_OPTIONS = [
    f'train_dataloader.dataset.indices={NUM_IMAGES}',
    f'train_dataloader.dataset.pipeline.2.scale={SMALL}',
    'train_dataloader.dataset.pipeline.3.prob=0.0',
    'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
    'default_hooks.logger.interval=1', 'log_processor.window_size=1',
]
TEST_OPTIONS = [
    f'test_dataloader.dataset.indices={NUM_IMAGES}',
    f'test_dataloader.dataset.pipeline.1.scale={SMALL}',
]


def logged(work_dir: Path, key: str):
    """[(iteration, value)] of ``key`` over every training run logged in ``work_dir``.

    Read from each run's text log: in one process, mmdet's runs share one visualiser,
    whose scalars.json stays in the first run's folder.
    """
    values = []
    pattern = re.compile(r'Iter\(train\) \[\s*(\d+)/\d+\].*\s' + key + r': (\S+)')
    for path in work_dir.glob('*/*.log'):
        for match in pattern.finditer(path.read_text()):
            values.append((int(match.group(1)), float(match.group(2))))
    return sorted(values)


@pytest.mark.parametrize('config,fresh_process', [
    ('rank-retinanet_r18_fpn_demo_coco128.py', True),
    ('rank-atss_r18_fpn_demo_coco128.py', False)])
def test_train_test_resume_on_coco128(config, fresh_process, coco128_root, tmp_path,
                                      monkeypatch):
    monkeypatch.setenv('COCO128_ROOT', f'{coco128_root}/')
    config = str(ROOT / 'configs2d' / 'demo' / config)
    work_dir = tmp_path / 'work'

    train_tool.main([config, '--work-dir', str(work_dir), '--cfg-options',
                     f'train_cfg.max_iters={ITERS}',
                     f'default_hooks.checkpoint.interval={ITERS}', *TRAIN_OPTIONS])
    losses = dict(logged(work_dir, 'loss'))
    assert list(losses) == list(range(1, ITERS + 1))
    for key in ('loss_rank_global', 'loss_rank_class', 'loss_rank_iou', 'loss_bbox'):
        assert len(logged(work_dir, key)) == ITERS, key
    first = sum(losses[i] for i in range(1, 6)) / 5
    last = sum(losses[i] for i in range(ITERS - 4, ITERS + 1)) / 5
    assert last < first, f'the loss did not fall: {first:.4f} -> {last:.4f}'
    checkpoint = work_dir / f'iter_{ITERS}.pth'
    assert checkpoint.is_file()

    results = tmp_path / 'results.pkl'
    metrics = test_tool.main([config, str(checkpoint), '--work-dir', str(tmp_path / 'test'),
                              '--out', str(results), '--cfg-options', *TEST_OPTIONS])
    for key in ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l'):
        assert f'coco/bbox_{key}' in metrics
    assert 0 <= metrics['coco/bbox_mAP'] <= 1
    assert metrics['coco/bbox_mAP'] == pytest.approx(
        pycocotools_ap(coco128_root, results), abs=5e-4)

    pairs = tmp_path / 'pairs'
    args = [config, str(checkpoint), '--out-dir', str(pairs), '--max-images', str(NUM_IMAGES),
            '--no-progress', '--cfg-options', f'test_dataloader.dataset.pipeline.1.scale={SMALL}']
    if fresh_process:  # as a user runs it: the checkpoint loads without training state
        run = subprocess.run([sys.executable, str(ROOT / 'tools' / 'analyze_pairs.py'), *args],
                             capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        assert 'F-B' in run.stdout and 'P-P' in run.stdout
    else:
        load_tool('analyze_pairs').main(args)
    analysis = json.loads((pairs / 'pair_ratios.json').read_text())
    assert analysis['num_images'] == NUM_IMAGES and analysis['class_name'] == 'person'
    assert all(0 <= value <= 1 for value in analysis['ratios'].values())
    for png in ('fg_bg_scores.png', 'pos_neg_scores_person.png', 'iou_vs_score_person.png'):
        assert (pairs / png).read_bytes()[:4] == b'\x89PNG'

    train_tool.main([config, '--work-dir', str(work_dir), '--resume', '--cfg-options',
                     f'train_cfg.max_iters={ITERS + MORE_ITERS}',
                     f'default_hooks.checkpoint.interval={ITERS + MORE_ITERS}',
                     *TRAIN_OPTIONS])
    # each iteration logged once: the second run continued at ITERS + 1, not from 1
    iterations = [i for i, _ in logged(work_dir, 'loss')]
    assert iterations == list(range(1, ITERS + MORE_ITERS + 1))
    assert (work_dir / f'iter_{ITERS + MORE_ITERS}.pth').is_file()


def pycocotools_ap(coco128_root: Path, results_pkl: Path) -> float:
    """COCO bbox AP of dumped predictions, straight from pycocotools' COCOeval.

    Like mmdet's CocoMetric, over every image of the annotation file (a subset run
    leaves the other images without detections).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(coco128_root / 'annotations' / 'instances_train2017.json'))
    cat_ids = sorted(gt.getCatIds())
    with open(results_pkl, 'rb') as f:
        predictions = pickle.load(f)
    detections = []
    for sample in predictions:
        pred = sample['pred_instances']
        for box, score, label in zip(pred['bboxes'].tolist(), pred['scores'].tolist(),
                                     pred['labels'].tolist()):
            x1, y1, x2, y2 = box
            detections.append(dict(image_id=sample['img_id'], category_id=cat_ids[label],
                                   bbox=[x1, y1, x2 - x1, y2 - y1], score=score))
    if not detections:
        return 0.0
    evaluator = COCOeval(gt, gt.loadRes(detections), 'bbox')
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return max(evaluator.stats[0], 0.0)
