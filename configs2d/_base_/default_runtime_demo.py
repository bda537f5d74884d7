# The runtime of the CPU demo: rankdet's runtime, logging every 10 iterations, a
# checkpoint every 100 iterations and at the last one, a fixed seed.
_base_ = './default_runtime.py'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, save_last=True))
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)
randomness = dict(seed=0)
