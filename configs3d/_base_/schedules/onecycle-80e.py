# SA-SSD's published KITTI schedule (skyhehe123/SA-SSD configs/car_cfg.py, 2 GPUs x 2
# frames): Adam with decoupled weight decay 0.01, one cycle over 80 epochs -- the
# learning rate rises from 0.0003 to 0.003 over the first 40% then anneals to ~0
# (cosine), while Adam's beta1 falls from 0.95 to 0.85 and rises back -- and gradients
# clipped at norm 10.
lr = 0.003
max_epochs = 80
rise_epochs = 32  # 40% of the cycle

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.95, 0.99), weight_decay=0.01),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='OneCycleLR', eta_max=lr, total_steps=max_epochs, pct_start=0.4,
         div_factor=10, anneal_strategy='cos', by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=rise_epochs, eta_min=0.85, begin=0,
         end=rise_epochs, by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=max_epochs - rise_epochs, eta_min=0.95,
         begin=rise_epochs, end=max_epochs, by_epoch=True, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# 2 GPUs x 2 frames
auto_scale_lr = dict(enable=False, base_batch_size=4)
