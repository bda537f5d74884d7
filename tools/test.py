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

from mmengine.config import DictAction  # noqa: E402

from rankdet.runner_config import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a rankdet model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default=None,
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
    cfg = load_config(args.config, args.cfg_options, launcher=args.launcher,
                      work_dir=args.work_dir)
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
