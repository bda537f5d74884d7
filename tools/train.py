"""Train a detector from an mmengine config (2D or 3D), the OpenMMLab way.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--cfg-options key=value ...] [--launcher pytorch]

Multi-GPU / multi-node: tools/dist_train.sh (torchrun + `--launcher pytorch`).
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
    parser = argparse.ArgumentParser(description='Train a rankdet detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint; without a value, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--cfg-options', nargs='+', type=key_value, action='extend', metavar='KEY=VALUE',
        help='override settings in the config, key=value (a.b=1 c=[1,2])')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torchrun sets LOCAL_RANK; torch.distributed.launch passes --local-rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    import rankdet.registration  # noqa: F401  the stack fixes, before any runner is built
    from rankdet.config_keys import warn_unknown_keys
    from apps.runner.runner_config import load_config

    cfg = load_config(args.config, cfg_options_dict(args.cfg_options),
                      launcher=args.launcher, work_dir=args.work_dir)
    if os.environ.get('RANK', '0') == '0':  # once, not once per process
        warn_unknown_keys(cfg)  # `trian_cfg = ...` would be ignored without a word

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(f'{args.config}: --auto-scale-lr needs `auto_scale_lr = '
                           f'dict(enable=..., base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume: checkpoint {args.resume} does not exist')
        cfg.resume = True
        cfg.load_from = args.resume

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from rankdet.compat.process_group_exit import release_process_group
    runner = (Runner.from_cfg(cfg) if 'runner_type' not in cfg
              else RUNNERS.build(cfg))
    runner.train()
    del runner  # its DDP wrapper holds the process group
    if args.launcher != 'none':
        # the runner started a process group: destroy it before exit, or a gloo
        # worker thread left alive may abort the process (SIGABRT) as it exits
        release_process_group()


if __name__ == '__main__':
    main()
