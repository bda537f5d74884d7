"""Test a detector checkpoint from an mmengine config (2D or 3D), the OpenMMLab way.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
                         [--cfg-options key=value ...] [--launcher pytorch]

Prints the config's metric (COCO bbox AP via pycocotools, KITTI via rankdet's CPU
evaluation) and writes it to the work dir's log and json.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# torch, mmengine and rankdet are imported after the arguments are parsed: --help and
# a wrong flag answer at once


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
    parser = argparse.ArgumentParser(description='Test (and evaluate) a rankdet model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument(
        '--cfg-options', nargs='+', type=key_value, action='extend', metavar='KEY=VALUE',
        help='override settings in the config, key=value (a.b=1 c=[1,2])')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    import rankdet.registration  # noqa: F401  the stack fixes, before any runner is built
    from rankdet.config_keys import warn_unknown_keys
    from apps.runner.runner_config import load_config

    cfg = load_config(args.config, cfg_options_dict(args.cfg_options),
                      launcher=args.launcher, work_dir=args.work_dir)
    if os.environ.get('RANK', '0') == '0':  # once, not once per process
        warn_unknown_keys(cfg)  # `trian_cfg = ...` would be ignored without a word
    cfg.load_from = args.checkpoint
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, got {args.out}')
        cfg.test_evaluator = (list(cfg.test_evaluator)
                              if isinstance(cfg.test_evaluator, (list, tuple))
                              else [cfg.test_evaluator])
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from rankdet.compat.process_group_exit import release_process_group
    runner = (Runner.from_cfg(cfg) if 'runner_type' not in cfg
              else RUNNERS.build(cfg))
    metrics = runner.test()
    del runner  # its DDP wrapper holds the process group
    if args.launcher != 'none':
        # the runner started a process group: destroy it before exit, or a gloo
        # worker thread left alive may abort the process (SIGABRT) as it exits
        release_process_group()
    return metrics


if __name__ == '__main__':
    main()
