"""`make demo`: RankDetNet's ranking losses in place of focal loss, end to end on the CPU,
in minutes, on rankdet's own synthetic data.

    python tools/demo.py [--data-root data/demo] [--work-dir work_dirs/demo]
                         [--stages data core 2d 3d] [--profile demo|tiny]

Stages:
  data  write the demo's synthetic sets (once; seeded): shapes in COCO format and LiDAR
        frames in KITTI format, easy enough for a few minutes of training
        (apps/demo/demo_data.py), and convert the KITTI set for mmdet3d;
  core  train a toy scorer with focal loss and with the ranking losses and print their
        reverse-pair ratios (RankDetNet Table 3);
  2d    RetinaNet: a focal warm start, then the ranking losses from its checkpoint;
  3d    SA-SSD: the same protocol.
The 2D and 3D chains train at once, one process each (tools/compare.py's jobs); then both
are tested on the held-out demo split, side by side with their warm starts, and their
detections are drawn. Everything mmengine prints stays in each run's job.log; the figures
go to <work-dir>/summary.json.
"""
import argparse
import os.path as osp
import sys
from pathlib import Path

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

STAGES = ('data', 'core', '2d', '3d')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/demo',
                        help='where the demo sets are written (coco/ and kitti/)')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--stages', nargs='+', choices=STAGES, default=list(STAGES))
    parser.add_argument('--profile', choices=('demo', 'tiny'), default='demo',
                        help='tiny: a handful of samples and iterations (the tests)')
    parser.add_argument('--workers', type=int, default=2,
                        help='runs training at once (one CPU thread each)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from apps.demo.demo_run import run_demo

    run_demo(args.stages, Path(args.data_root), Path(args.work_dir), args.profile,
             args.workers)


if __name__ == '__main__':
    main()
