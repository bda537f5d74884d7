"""Train focal-loss detectors and their RankDetNet twins side by side and report how
they differ (`make evidence`, `make ablation`).

    python tools/compare.py evidence                 # about 60 min on two cores
    python tools/compare.py ablation                 # Table 4's rows, synthetic 2D
    python tools/compare.py evidence --only 3d-synthetic --workers 2
    python tools/compare.py tiny --work-dir /tmp/cmp --data-dir /tmp/cmp-data

Each pair (RetinaNet on synthetic shapes, RetinaNet on coco128, SA-SSD on synthetic
LiDAR) follows METHOD.md's warm start: focal loss for N iterations from random weights,
then N more iterations of focal loss or of the ranking losses from that checkpoint, with
the same seed, data order, augmentation and schedule. Every run is tested on held-out
validation data (coco128: its training images) and analysed for Table 3's reverse-pair
ratios, the Spearman correlation of confidence and IoU, and Figure 3's distributions.

Runs go to ``<work-dir>/<pair>/seed<k>/<run>/`` (logs, checkpoints, result.json,
figures), the report to ``<work-dir>/<profile>.{md,json}`` with
``<work-dir>/<pair>_figure3.png``. Rerunning resumes: finished runs are kept.
"""
import argparse
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a clone

from rankdet.evidence.experiments import PROFILES  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('profile', choices=PROFILES,
                        help='evidence: all pairs, 3 seeds; ablation: loss variants on '
                             'synthetic 2D; tiny/tiny-ablation: the same in a minute')
    parser.add_argument('--work-dir', default=str(REPO / 'work_dirs' / 'evidence'),
                        help='default work_dirs/evidence; the ablation shares it, so that '
                             'it reuses the evidence runs it needs (warm start, focal, '
                             'ranking of seed 0)')
    parser.add_argument('--data-dir', default=str(REPO / 'data' / 'evidence'),
                        help='where the synthetic sets are written once (default '
                             'data/evidence)')
    parser.add_argument('--coco128-root', default=str(REPO.parent / 'shared' / 'data' /
                                                      'coco128'),
                        help='coco128 in COCO layout (default ../shared/data/coco128)')
    parser.add_argument('--workers', type=int, default=2,
                        help='runs trained at once, one thread each (default 2)')
    parser.add_argument('--only', nargs='+', metavar='PAIR',
                        help='run only these pairs (2d-synthetic, coco128, 3d-synthetic)')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from rankdet.evidence.comparison import run_comparison

    command = 'python tools/compare.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    report = run_comparison(args.profile, args.work_dir, args.data_dir, args.coco128_root,
                            workers=args.workers, only=args.only,
                            progress=not args.no_progress, command=command)
    print(Path(report['markdown']).read_text())
    print(f"report: {report['markdown']} (and .json beside it)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
