"""`make demo`: rankdet end to end on its own synthetic data, on the CPU, in minutes.

    python tools/demo.py [--data-root data/synthetic] [--work-dir work_dirs/demo]
                         [--stages data core 2d 3d]

Stages:
  data  write the synthetic COCO-format and KITTI-format sets (once; seeded) and convert
        the KITTI set to mmdet3d infos with its GT database;
  core  train a toy scorer with focal loss and with the three ranking losses and print
        their reverse-pair ratios (RankDetNet Table 3);
  2d    train the ranking RetinaNet demo briefly, evaluate it (COCO AP, pycocotools) and
        run the pair analysis (Table 3 ratios, Figure 3 plots);
  3d    train the ranking SA-SSD demo briefly, evaluate it with the CPU KITTI metric and
        render its detections with open3d.
"""
import argparse
import os.path as osp
import sys
import time
from pathlib import Path

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

STAGES = ('data', 'core', '2d', '3d')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic',
                        help='where the synthetic sets are written (coco/ and kitti/)')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--stages', nargs='+', choices=STAGES, default=list(STAGES))
    parser.add_argument('--iters-2d', type=int, default=100,
                        help='training iterations of the 2D demo')
    parser.add_argument('--iters-3d', type=int, default=60,
                        help='training iterations of the 3D demo')
    return parser.parse_args(argv)


def banner(text):
    print(f'\n=== {text} ===', flush=True)


def stage_data(data_root: Path):
    from data_converters.kitti_converter import kitti_data_prep
    from rankdet.synthetic import generate_coco, generate_kitti

    coco, kitti = data_root / 'coco', data_root / 'kitti'
    if not coco.exists():
        generate_coco(coco)
    print(f'synthetic COCO-format set: {coco}')
    if not kitti.exists():
        generate_kitti(kitti)
    if not (kitti / 'kitti_infos_train.pkl').exists():
        kitti_data_prep(kitti)
    print(f'synthetic KITTI-format set with mmdet3d infos: {kitti}')


def stage_core():
    from rankdet.demo.toy_comparison import compare_toy_losses

    print('reverse-pair ratios (RankDetNet Table 3) of a toy scorer; lower is better:')
    print(f'{"trained with":<24} {"F-B":>6} {"P-N":>6} {"P-P":>6}')
    for name, r in compare_toy_losses():
        print(f'{name:<24} {r["F-B"]:6.3f} {r["P-N"]:6.3f} {r["P-P"]:6.3f}')


def main(argv=None):
    args = parse_args(argv)
    data_root, work_dir = Path(args.data_root), Path(args.work_dir)
    start = time.time()
    if 'data' in args.stages:
        banner('data: synthetic sets')
        stage_data(data_root)
    if 'core' in args.stages:
        banner('core: ranking losses on a toy scorer')
        stage_core()
    if '2d' in args.stages:
        banner('2d: ranking RetinaNet demo (train, COCO AP, pair analysis)')
        from rankdet.demo.demo2d import run_2d_demo
        run_2d_demo(work_dir / '2d', data_root / 'coco', args.iters_2d)
    if '3d' in args.stages:
        banner('3d: ranking SA-SSD demo (train, KITTI AP, picture)')
        from rankdet.demo.demo3d import run_3d_demo
        run_3d_demo(work_dir / '3d', data_root / 'kitti', args.iters_3d)
    print(f'\ndemo finished in {time.time() - start:.0f} s; outputs in {work_dir}')


if __name__ == '__main__':
    main()
