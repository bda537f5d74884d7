"""Load an mmengine config for tools/train.py and tools/test.py, with clear errors."""
import os.path as osp


def load_config(path, cfg_options=None, launcher='none', work_dir=None):
    """Read ``path``, apply ``--cfg-options`` and set launcher and work dir.

    The work dir follows mmdet's rule: the command line, else the config's ``work_dir``,
    else ``./work_dirs/<config name>``.
    """
    from mmengine.config import Config

    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    import rankdet.registration  # noqa: F401  registers rankdet's modules, applies its fixes
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg
