"""Write rankdet's synthetic data sets: COCO-format shapes (2D) and KITTI-format LiDAR (3D).

    python tools/make_synthetic.py all --out-dir data/synthetic --seed 0
    python tools/make_synthetic.py coco --out-dir data/synthetic --num-train 2000 --num-val 500
    python tools/make_synthetic.py kitti --out-dir data/synthetic --num-train 64 --num-val 32

Sets go to ``<out-dir>/coco`` and ``<out-dir>/kitti``, each built in a temporary folder
beside it and renamed into place when complete. The same arguments write the same bytes.
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone

from rankdet.synthetic import (SHAPES, CocoShapesConfig, KittiSceneConfig,  # noqa: E402
                               LidarModel, generate_coco, generate_kitti)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Write synthetic COCO / KITTI sets')
    parser.add_argument('dataset', choices=['coco', 'kitti', 'all'])
    parser.add_argument('--out-dir', default='data/synthetic',
                        help='parent folder of the coco/ and kitti/ sets')
    parser.add_argument('--seed', type=int, default=0,
                        help='the same seed and arguments write the same bytes')
    parser.add_argument('--num-train', type=int, default=None,
                        help=f'training images / frames (default: COCO '
                             f'{CocoShapesConfig.num_train}, KITTI {KittiSceneConfig.num_train})')
    parser.add_argument('--num-val', type=int, default=None,
                        help=f'validation images / frames (default: COCO '
                             f'{CocoShapesConfig.num_val}, KITTI {KittiSceneConfig.num_val})')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a synthetic set already at the target')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1),
                        help='processes drawing images / frames (the output does not '
                             'depend on it)')
    parser.add_argument('--no-progress', action='store_true')

    coco = parser.add_argument_group('COCO shapes')
    coco.add_argument('--num-classes', type=int, default=CocoShapesConfig.num_classes,
                      help=f'the first N of {", ".join(SHAPES)}')
    coco.add_argument('--image-size', type=int, nargs=2, metavar=('MIN', 'MAX'),
                      default=[CocoShapesConfig.min_size, CocoShapesConfig.max_size],
                      help='range of image side lengths in pixels')
    coco.add_argument('--objects', type=int, nargs=2, metavar=('MIN', 'MAX'),
                      default=[CocoShapesConfig.min_objects, CocoShapesConfig.max_objects],
                      help='shapes drawn per image (annotated unless hidden too much)')
    coco.add_argument('--max-occlusion', type=float, default=CocoShapesConfig.max_occlusion,
                      help='shapes hidden more than this share are not annotated')
    coco.add_argument('--object-radius', type=float, nargs=2, metavar=('MIN_PX', 'MAX_RATIO'),
                      default=[CocoShapesConfig.min_radius, CocoShapesConfig.max_radius_ratio],
                      help='shape radii, log-uniform from MIN_PX pixels to MAX_RATIO times '
                           "the image's shorter side")
    coco.add_argument('--clutter', type=int, nargs=2, metavar=('MIN', 'MAX'),
                      default=[CocoShapesConfig.min_clutter, CocoShapesConfig.max_clutter],
                      help='unlabelled lines, scribbles and dots per image')

    kitti = parser.add_argument_group('KITTI LiDAR')
    kitti.add_argument('--num-test', type=int, default=KittiSceneConfig.num_test,
                       help='unlabelled frames in testing/')
    kitti.add_argument('--cars', type=int, nargs=2, metavar=('MIN', 'MAX'),
                       default=[KittiSceneConfig.min_cars, KittiSceneConfig.max_cars],
                       help='cars per frame')
    kitti.add_argument('--empty-ratio', type=float, default=KittiSceneConfig.empty_ratio,
                       help='share of frames without any car')
    kitti.add_argument('--min-distance', type=float, default=KittiSceneConfig.min_distance,
                       help='nearest car centre from the sensor (metres)')
    kitti.add_argument('--max-distance', type=float, default=KittiSceneConfig.max_distance,
                       help='farthest car centre from the sensor (metres)')
    kitti.add_argument('--num-beams', type=int, default=LidarModel.num_beams,
                       help='LiDAR beams, spread over -24.9..+2 degrees of elevation')
    kitti.add_argument('--azimuth-res', type=float, default=LidarModel.azimuth_resolution_deg,
                       help='degrees between two firings of a beam')
    return parser.parse_args(argv)


def coco_config(args) -> CocoShapesConfig:
    return CocoShapesConfig(
        num_train=CocoShapesConfig.num_train if args.num_train is None else args.num_train,
        num_val=CocoShapesConfig.num_val if args.num_val is None else args.num_val,
        seed=args.seed, num_classes=args.num_classes, min_size=args.image_size[0],
        max_size=args.image_size[1], min_objects=args.objects[0], max_objects=args.objects[1],
        max_occlusion=args.max_occlusion, min_radius=args.object_radius[0],
        max_radius_ratio=args.object_radius[1], min_clutter=args.clutter[0],
        max_clutter=args.clutter[1])


def kitti_config(args) -> KittiSceneConfig:
    return KittiSceneConfig(
        num_train=KittiSceneConfig.num_train if args.num_train is None else args.num_train,
        num_val=KittiSceneConfig.num_val if args.num_val is None else args.num_val,
        num_test=args.num_test, seed=args.seed, min_cars=args.cars[0], max_cars=args.cars[1],
        empty_ratio=args.empty_ratio, min_distance=args.min_distance,
        max_distance=args.max_distance,
        lidar=LidarModel(num_beams=args.num_beams, azimuth_resolution_deg=args.azimuth_res))


def main(argv=None):
    args = parse_args(argv)
    out_dir = Path(args.out_dir)
    progress = not args.no_progress
    # bad arguments and existing folders are refusals, not crashes: no traceback
    try:
        coco = coco_config(args) if args.dataset in ('coco', 'all') else None
        kitti = kitti_config(args) if args.dataset in ('kitti', 'all') else None
    except ValueError as error:
        raise SystemExit(f'make_synthetic: {error}') from None
    try:
        if coco is not None:
            start = time.perf_counter()
            root = generate_coco(out_dir / 'coco', coco, args.overwrite, progress,
                                 args.workers)
            print(f'COCO shapes: {coco.num_train} train + {coco.num_val} val images in '
                  f'{root} ({time.perf_counter() - start:.1f} s)')
        if kitti is not None:
            start = time.perf_counter()
            root = generate_kitti(out_dir / 'kitti', kitti, args.overwrite, progress,
                                  args.workers)
            print(f'KITTI LiDAR: {kitti.num_train} train + {kitti.num_val} val + '
                  f'{kitti.num_test} test frames in {root} '
                  f'({time.perf_counter() - start:.1f} s)')
    except FileExistsError as error:
        raise SystemExit(f'make_synthetic: {error}') from None


if __name__ == '__main__':
    main()
