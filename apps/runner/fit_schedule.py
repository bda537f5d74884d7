"""Stretch an iteration-based mmengine schedule to a new length (demos, tests and
tools/compare.py train the same configs for very different numbers of iterations)."""


def fit_schedule(cfg, iters: int) -> None:
    """Make an iteration-based config train ``iters`` iterations, saving a checkpoint at
    the end, with its linear warm-up (at most a fifth of the run; none under 10
    iterations) and cosine decay stretched to the new length. ``cfg`` is changed in
    place."""
    if iters < 1:
        raise ValueError(f'iters must be >= 1, got {iters}')
    if cfg.train_cfg.get('type') != 'IterBasedTrainLoop':
        raise ValueError(f'{cfg.filename}: fit_schedule needs an IterBasedTrainLoop config, '
                         f'got {cfg.train_cfg.get("type")}')
    warmup = min(cfg.get('warmup_iters', 0), iters // 5)
    warmup = warmup if warmup >= 2 else 0  # a 1-step LinearLR would leave lr at its start
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.default_hooks.checkpoint.interval = iters
    lr = cfg.optim_wrapper.optimizer.lr
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', T_max=iters - warmup, eta_min=lr * 1e-3,
             begin=warmup, end=iters, by_epoch=False)]
    if warmup:
        cfg.param_scheduler.insert(0, dict(type='LinearLR', start_factor=0.1, begin=0,
                                           end=warmup, by_epoch=False))
