"""Convert a dataset folder into the info files (and extras) that mmdet3d 1.4 reads.

    python tools/create_data.py kitti --root-path data/kitti [--out-dir data/kitti]
                                      [--extra-tag kitti]

For KITTI this writes, into ``--out-dir`` (default: the root itself, mmdet3d's layout):
``{tag}_infos_{train,val,trainval,test}.pkl``, ``{training,testing}/velodyne_reduced/``
and the GT-sampling database ``{tag}_gt_database/`` + ``{tag}_dbinfos_train.pkl``
(see data_converters/kitti_converter.py). Nothing is left half-written on error.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

# dataset -> (module, function); imported after the arguments are parsed (the converters
# import rankdet and torch with it): --help and a wrong flag answer at once
DATASETS = {'kitti': ('data_converters.kitti_converter', 'kitti_data_prep')}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a dataset folder into mmdet3d 1.4 info files')
    parser.add_argument('dataset', choices=sorted(DATASETS), help='dataset to convert')
    parser.add_argument('--root-path', required=True,
                        help='dataset root (for KITTI: holds ImageSets/, training/, '
                             'testing/); only read')
    parser.add_argument('--out-dir', default=None,
                        help='where to write the products (default: --root-path)')
    parser.add_argument('--extra-tag', default='kitti',
                        help='file-name prefix of the products (default: kitti)')
    parser.add_argument('--no-gt-database', action='store_true',
                        help='skip the GT-sampling database')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import importlib

    module, function = DATASETS[args.dataset]
    prep = getattr(importlib.import_module(module), function)
    try:
        written = prep(args.root_path, info_prefix=args.extra_tag, out_dir=args.out_dir,
                       with_gt_database=not args.no_gt_database)
    except (OSError, ValueError) as err:
        # The message names the file (and line) at fault; a traceback adds nothing.
        sys.exit(f'create_data.py: error: {err}')
    for path in written.values():
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
