"""Reverse-pair ratios (RankDetNet Table 3) and score distributions (Figure 3) of a model.

    python tools/analyze_pairs.py CONFIG CHECKPOINT [--out-dir DIR] [--class-name person]
                                  [--max-images N] [--cfg-options key=value ...]

Works for the 2D dense heads (configs2d/) and SA-SSD (configs3d/, 3D IoU). Runs the model
over the config's test set, labels anchors with the head's assigner, prints the F-B, P-N
and P-P ratios and the Spearman correlation between the confidence and the IoU of the
positives, and writes fg_bg_scores.png,
pos_neg_scores_<class>.png, iou_vs_score_<class>.png and pair_ratios.json to the output
folder (default: <work dir>/pair_analysis).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# torch, mmengine and rankdet are imported after the arguments are parsed: --help and
# a wrong flag answer at once

LIDAR_DETECTORS = ('SASSDDetector', 'SASSD')  # analysed by apps.pairs.analyze_pairs_3d


def key_value(item: str) -> str:
    """One ``--cfg-options`` item, ``KEY=VALUE``; mmengine reads its value later."""
    if '=' not in item:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{item}'")
    return item


def cfg_options_dict(items):
    """``--cfg-options`` items as mmengine's DictAction reads them (``a.b=1 c=[1,2]``):
    ``{key: value}``, or None without items. mmengine is imported here, after parsing:
    it takes seconds, and --help and a wrong flag should answer at once."""
    if not items:
        return None
    from mmengine.config import DictAction
    return {key: DictAction._parse_iterable(value)
            for key, value in (item.split('=', 1) for item in items)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Reverse pairs and score distributions '
                                                 '(RankDetNet Table 3 / Figure 3)')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', help='folder for the PNG files and pair_ratios.json')
    parser.add_argument('--class-name', help="class of the per-class panels (default "
                        "'person' if the data set has it, else its first class)")
    parser.add_argument('--max-images', type=int, help='analyse the first N test images')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument(
        '--cfg-options', nargs='+', type=key_value, action='extend', metavar='KEY=VALUE',
        help='override settings in the config, key=value (a.b=1 c=[1,2])')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.max_images is not None and args.max_images < 1:
        raise ValueError(f'--max-images must be at least 1, got {args.max_images}')
    import rankdet.registration  # noqa: F401  the stack fixes, before the model is built
    from apps.runner.runner_config import load_config

    cfg = load_config(args.config, cfg_options_dict(args.cfg_options))
    out_dir = args.out_dir or osp.join(cfg.work_dir, 'pair_analysis')

    from apps.pairs.analyze_pairs import analyze_pairs, format_ratios
    if cfg.model.get('type') in LIDAR_DETECTORS:
        from apps.pairs.analyze_pairs_3d import analyze_pairs_3d
        result = analyze_pairs_3d(cfg, args.checkpoint, out_dir, max_frames=args.max_images,
                                  progress=not args.no_progress, class_name=args.class_name)
    else:
        result = analyze_pairs(cfg, args.checkpoint, out_dir, class_name=args.class_name,
                               max_images=args.max_images, progress=not args.no_progress)
    print(f"{result['num_images']} images, checkpoint {args.checkpoint}")
    print(format_ratios(result['ratios']))
    print(f"Spearman correlation of confidence and IoU over {result['num_positives']} "
          f"positives: {result['spearman']:.3f}")
    for path in result['figures'].values():
        print(f'wrote {path}')
    print(f"wrote {result['ratios_file']}")
    return result


if __name__ == '__main__':
    main()
