"""The 2D part of ``make demo``: train the ranking RetinaNet demo briefly on CPU, evaluate
its COCO AP with pycocotools, and measure how it ranks its anchors (Table 3, Figure 3).

Each step takes the path its command-line tool takes: the config through
``rankdet.runner_config.load_config`` and mmengine's Runner for training
(tools/train.py) and testing (tools/test.py), then the pair analysis
(tools/analyze_pairs.py).
"""
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / 'configs2d' / 'demo' / 'rank-retinanet_r18_fpn_demo_synthetic.py'


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


def run_2d_demo(work_dir='work_dirs/demo2d', data_root='data/synthetic/coco',
                iters: int = 200, config: Optional[str] = None,
                progress: bool = True) -> dict:
    """Train, evaluate and analyse the ranking RetinaNet demo.

    Args:
        work_dir (str or Path): checkpoints, logs, metrics and the pair-analysis figures.
        data_root (str or Path): a COCO-format folder (annotations/instances_{train,val}
            2017.json, train2017/, val2017/); default the synthetic set of
            ``python tools/make_synthetic.py coco --out-dir data/synthetic``.
        iters (int): training iterations (batch 2).
        config (str, optional): default configs2d/demo/rank-retinanet_r18_fpn_demo_
            synthetic.py; its classes must match the data.
        progress (bool): progress bar of the pair analysis.

    Returns:
        dict: ``metrics`` (COCO bbox AP, ...), ``ratios`` (F-B, P-N, P-P), ``figures``
        (PNG paths), ``checkpoint``, ``seconds`` (train, test, analysis).
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from rankdet.analysis.analyze_pairs import analyze_pairs, format_ratios
    from rankdet.runner_config import load_config

    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f'iters must be a positive integer, got {iters!r}')
    config = str(config or DEFAULT_CONFIG)
    data_root, work_dir = Path(data_root), Path(work_dir)
    for needed in ('annotations/instances_train2017.json',
                   'annotations/instances_val2017.json'):
        if not (data_root / needed).is_file():
            raise FileNotFoundError(
                f'demo data {data_root / needed} does not exist; write the synthetic set '
                f'with: python tools/make_synthetic.py coco --out-dir data/synthetic')

    def build_runner(cfg):
        return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)

    seconds = {}
    start = time.perf_counter()
    cfg = load_config(config, {'train_cfg.max_iters': iters,
                               'default_hooks.checkpoint.interval': iters},
                      work_dir=str(work_dir / 'train'))
    point_at_data(cfg, data_root)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None  # tested once, below
    build_runner(cfg).train()
    checkpoint = work_dir / 'train' / f'iter_{iters}.pth'
    seconds['train'] = time.perf_counter() - start

    start = time.perf_counter()
    cfg = load_config(config, work_dir=str(work_dir / 'test'))
    point_at_data(cfg, data_root)
    cfg.load_from = str(checkpoint)
    metrics = build_runner(cfg).test()
    seconds['test'] = time.perf_counter() - start

    start = time.perf_counter()
    analysis = analyze_pairs(cfg, str(checkpoint), work_dir / 'pair_analysis',
                             progress=progress)
    seconds['analysis'] = time.perf_counter() - start

    print(f"\nranking RetinaNet demo, {iters} iterations: COCO bbox AP "
          f"{metrics['coco/bbox_mAP']:.3f}, AP50 {metrics['coco/bbox_mAP_50']:.3f}")
    print(format_ratios(analysis['ratios']))
    for path in analysis['figures'].values():
        print(f'wrote {path}')
    print('time: ' + ', '.join(f'{k} {v:.0f} s' for k, v in seconds.items()))
    return dict(metrics=metrics, ratios=analysis['ratios'], figures=analysis['figures'],
                checkpoint=checkpoint, seconds=seconds)
