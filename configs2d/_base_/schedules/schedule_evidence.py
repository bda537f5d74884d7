# The schedule of tools/compare.py's evidence runs, which sets its length (warm-up and
# cosine decay stretched to fit): from random weights on CPU-sized runs AdamW gets a
# detector in hundreds of iterations, where SGD (lr 0.02, a pilot run) had not one score
# above 0.05 after 400. Focal and ranking runs use it alike.
lr = 0.001
warmup_iters = 100
max_iters = 1000

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.05),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=warmup_iters, by_epoch=False),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=lr * 1e-3,
         begin=warmup_iters, end=max_iters, by_epoch=False),
]
