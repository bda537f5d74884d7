"""Train focal-loss detectors and their RankDetNet variants side by side, with the
paper's protocol at the scale of two CPU cores, and report how they differ
(`make evidence`, `make ablation`).

    python tools/compare.py evidence                 # at most 75 min on two cores (first run)
    python tools/compare.py ablation                 # Table 4's switches, synthetic 2D
    python tools/compare.py evidence --only 3d-synthetic
    python tools/compare.py tiny --work-dir /tmp/cmp --data-dir /tmp/cmp-data

Per data set (RetinaNet on synthetic shapes, SA-SSD on synthetic LiDAR): one focal warm
start trained until its val AP stops improving, shared by every seed and variant; then
each declared variant (focal, paper, ohem, size, logit, rank+focal; on SA-SSD focal,
paper and the best 2D extension, chosen on the 2D val split) continues from it with the
same seed, data order and schedule; only the loss differs. Every continuation is
validated on val and tested twice on the held-out test split (the paper's test settings,
then score_thr=0), and analysed for Table 3's reverse-pair ratios, the Spearman
correlation of confidence and IoU, and Figure 3's distributions. The protocol, its sizes
and their arithmetic: apps/evidence/experiments.py.

Warm starts go to ``<work-dir>/<pair>/warm/``, runs to ``<work-dir>/<pair>/seed<k>/<run>/``
(logs, checkpoints, result.json, figures), the report to ``<work-dir>/<profile>.{md,json}``
with ``<pair>_figure3.png`` and ``<profile>_health.png``. Rerunning resumes: finished runs
and warm starts are kept.
"""
import argparse
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a clone
# apps.evidence.experiments.PROFILES, restated so that --help and a wrong profile answer
# before torch and OpenMMLab are imported (tests/test_tool_cli.py pins the two equal)
PROFILES = ('evidence', 'ablation', 'tiny', 'tiny-ablation')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('profile', choices=PROFILES,
                        help='evidence: both data sets, every variant, 3 seeds; ablation: '
                             "Table 4's switches on synthetic 2D; tiny/tiny-ablation: the "
                             'same in a minute')
    parser.add_argument('--work-dir', default=str(REPO / 'work_dirs' / 'evidence'),
                        help='default work_dirs/evidence; the ablation shares it, so that '
                             'it reuses the evidence runs it needs (warm start, focal, '
                             'paper and ohem of seed 0)')
    parser.add_argument('--data-dir', default=str(REPO / 'data' / 'evidence'),
                        help='where the synthetic sets (train/val and test) are written '
                             'once (default data/evidence)')
    parser.add_argument('--workers', type=int, default=2,
                        help='runs trained at once, one thread each (default 2)')
    parser.add_argument('--only', nargs='+', metavar='PAIR',
                        help='run only these data sets (2d-synthetic, 3d-synthetic; the '
                             '3D best extension brings the 2D runs it is chosen from)')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from apps.evidence.comparison import run_comparison

    command = 'python tools/compare.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    report = run_comparison(args.profile, args.work_dir, args.data_dir,
                            workers=args.workers, only=args.only,
                            progress=not args.no_progress, command=command)
    print(Path(report['markdown']).read_text())
    print(f"report: {report['markdown']} (and .json beside it)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
