# A short iteration-based schedule for CPU demos: AdamW (SA-SSD's learning rate), a
# linear warm-up, cosine decay, gradients clipped at norm 10; evaluation at the end.
lr = 0.003
max_iters = 100
warmup_iters = 10

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.95, 0.99), weight_decay=0.01),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=warmup_iters, by_epoch=False),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=lr * 1e-3,
         begin=warmup_iters, end=max_iters, by_epoch=False),
]

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=2)
