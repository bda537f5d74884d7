"""Draw a LiDAR scan with ground-truth and predicted 3D boxes (open3d + bird's-eye view).

    # a KITTI frame (ground truth from label_2, if the split has labels)
    python tools/vis3d.py --kitti-root data/kitti --split training --index 000001 \\
        [--results results.pkl] --out frame.png [--bev-out frame_bev.png] [--score-thr 0.3]

    # any .bin scan (float32 x, y, z, intensity) with detections
    python tools/vis3d.py --bin scan.bin --results results.json --out scan.png

Ground truth is green, predictions red-orange; a cross on a box's front face shows its
heading, and the bird's-eye view prints each prediction's score. With ``--out`` the 3D
view is rendered offscreen to a PNG (no display needed); without it an interactive
open3d window opens, which needs a display. ``--results``: mmdet3d's test output pickle
(``tools/test.py ... --out results.pkl``) or a json file; see
rankdet/visualization/predictions.py for both formats.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# rankdet (and torch with it) is imported in main(), after the arguments are parsed:
# --help and a wrong flag answer at once


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw a LiDAR scan with ground-truth and predicted 3D boxes')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--kitti-root', help='KITTI root (holds training/, testing/)')
    source.add_argument('--bin', help='a .bin scan: float32 x, y, z, intensity per point')
    parser.add_argument('--split', default='training', choices=['training', 'testing'],
                        help='KITTI split folder (default: training)')
    parser.add_argument('--index', help='KITTI frame, e.g. 000001 (with --kitti-root)')
    parser.add_argument('--fov-only', action='store_true',
                        help="KITTI: keep only the points in camera 2's field of view")
    parser.add_argument('--results', help='detections: mmdet3d test .pkl or .json')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw predictions scoring at least this (default: 0.3)')
    parser.add_argument('--classes', nargs='+',
                        help='class names by label index, for the score text')
    parser.add_argument('--out', help='write the 3D view to this PNG (offscreen)')
    parser.add_argument('--bev-out', help="write a bird's-eye view to this PNG")
    parser.add_argument('--view', default='chase', choices=['chase', 'bev'],
                        help='3D camera: behind and above the sensor, or top-down')
    parser.add_argument('--width', type=int, default=960, help='3D view width (px)')
    parser.add_argument('--height', type=int, default=540, help='3D view height (px)')
    args = parser.parse_args(argv)
    if args.kitti_root and not args.index:
        parser.error('--kitti-root needs --index (a frame such as 000001)')
    if args.bin and (args.index or args.fov_only):
        parser.error('--index and --fov-only go with --kitti-root, not --bin')
    return args


def main(argv=None):
    args = parse_args(argv)
    from rankdet.visualization import has_display, render_bev, render_png, show
    from rankdet.visualization.frames import (frame_box_sets, frame_predictions,
                                              load_bin_frame, load_kitti_frame)
    try:
        if args.kitti_root:
            frame = load_kitti_frame(args.kitti_root, args.split, args.index, args.fov_only)
        else:
            frame = load_bin_frame(args.bin)
        # always by the frame's lidar_path / sample_idx, also in a one-entry file
        preds = frame_predictions(args.results, frame) if args.results else None
        box_sets = frame_box_sets(frame, preds, args.score_thr,
                                  with_labels=bool(args.classes))
    except (OSError, ValueError) as err:
        sys.exit(f'vis3d.py: error: {err}')
    points = frame.points

    if args.out:
        render_png(args.out, points, box_sets, width=args.width, height=args.height,
                   view=args.view)
        print(f'wrote {args.out}')
    if args.bev_out:
        render_bev(args.bev_out, points, box_sets, class_names=args.classes)
        print(f'wrote {args.bev_out}')
    if not args.out:
        if has_display():
            show(points, box_sets)
        elif not args.bev_out:
            sys.exit('vis3d.py: error: no display for a window here; pass --out (and '
                     '--bev-out) to write PNGs instead')
    summary = ', '.join(f'{len(s.boxes)} {s.name}' for s in box_sets) or 'no boxes'
    print(f'{len(points)} points, {summary}')


if __name__ == '__main__':
    main()
