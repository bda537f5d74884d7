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
# rankdet (and torch with it) is imported after the arguments are parsed: --help and a
# wrong flag answer at once. Hence the options' defaults are None here, meaning those of
# data_converters.synthetic's CocoShapesConfig, KittiSceneConfig and LidarModel.


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write synthetic COCO / KITTI sets',
        epilog="Options without a default shown take data_converters.synthetic's: "
               'CocoShapesConfig, KittiSceneConfig and LidarModel in '
               'data_converters/synthetic/.')
    parser.add_argument('dataset', choices=['coco', 'kitti', 'all'])
    parser.add_argument('--out-dir', default='data/synthetic',
                        help='parent folder of the coco/ and kitti/ sets')
    parser.add_argument('--seed', type=int, default=0,
                        help='the same seed and arguments write the same bytes')
    parser.add_argument('--num-train', type=int, default=None,
                        help='training images / frames')
    parser.add_argument('--num-val', type=int, default=None,
                        help='validation images / frames')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a synthetic set already at the target')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1),
                        help='processes drawing images / frames (the output does not '
                             'depend on it)')
    parser.add_argument('--no-progress', action='store_true')

    coco = parser.add_argument_group('COCO shapes')
    coco.add_argument('--num-classes', type=int, metavar='N',
                      help='the first N of the shapes (circle, square, triangle, ...)')
    coco.add_argument('--image-size', type=int, nargs=2, metavar=('MIN', 'MAX'),
                      help='range of image side lengths in pixels')
    coco.add_argument('--objects', type=int, nargs=2, metavar=('MIN', 'MAX'),
                      help='shapes drawn per image (annotated unless hidden too much)')
    coco.add_argument('--max-occlusion', type=float,
                      help='shapes hidden more than this share are not annotated')
    coco.add_argument('--object-radius', type=float, nargs=2, metavar=('MIN_PX', 'MAX_RATIO'),
                      help='shape radii, log-uniform from MIN_PX pixels to MAX_RATIO times '
                           "the image's shorter side")
    coco.add_argument('--clutter', type=int, nargs=2, metavar=('MIN', 'MAX'),
                      help='unlabelled lines, scribbles and dots per image')

    kitti = parser.add_argument_group('KITTI LiDAR')
    kitti.add_argument('--num-test', type=int, help='unlabelled frames in testing/')
    kitti.add_argument('--cars', type=int, nargs=2, metavar=('MIN', 'MAX'),
                       help='cars per frame')
    kitti.add_argument('--empty-ratio', type=float, help='share of frames without any car')
    kitti.add_argument('--min-distance', type=float,
                       help='nearest car centre from the sensor (metres)')
    kitti.add_argument('--max-distance', type=float,
                       help='farthest car centre from the sensor (metres)')
    kitti.add_argument('--num-beams', type=int,
                       help='LiDAR beams, spread over -24.9..+2 degrees of elevation')
    kitti.add_argument('--azimuth-res', type=float,
                       help='degrees between two firings of a beam')
    return parser.parse_args(argv)


def given(**options) -> dict:
    """The options given on the command line: the others keep the config's default."""
    return {name: value for name, value in options.items() if value is not None}


def pair(values):
    """``(min, max)`` of a two-value option, ``(None, None)`` when not given."""
    return (None, None) if values is None else values


def coco_config(args):
    from data_converters.synthetic import CocoShapesConfig

    (min_size, max_size), (min_objects, max_objects), (min_radius, max_radius_ratio), \
        (min_clutter, max_clutter) = map(pair, (args.image_size, args.objects,
                                                args.object_radius, args.clutter))
    return CocoShapesConfig(**given(
        num_train=args.num_train, num_val=args.num_val, seed=args.seed,
        num_classes=args.num_classes, min_size=min_size, max_size=max_size,
        min_objects=min_objects, max_objects=max_objects, max_occlusion=args.max_occlusion,
        min_radius=min_radius, max_radius_ratio=max_radius_ratio, min_clutter=min_clutter,
        max_clutter=max_clutter))


def kitti_config(args):
    from data_converters.synthetic import KittiSceneConfig, LidarModel

    min_cars, max_cars = pair(args.cars)
    return KittiSceneConfig(**given(
        num_train=args.num_train, num_val=args.num_val, num_test=args.num_test,
        seed=args.seed, min_cars=min_cars, max_cars=max_cars, empty_ratio=args.empty_ratio,
        min_distance=args.min_distance, max_distance=args.max_distance,
        lidar=LidarModel(**given(num_beams=args.num_beams,
                                 azimuth_resolution_deg=args.azimuth_res))))


def main(argv=None):
    args = parse_args(argv)
    from data_converters.synthetic import generate_coco, generate_kitti

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
