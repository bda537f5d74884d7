# CPU demo with RankDetNet's ranking losses in place of focal loss (see the baseline).
_base_ = './sassd_pswarp_cpu-demo_synthetic-3d-car.py'

model = dict(
    bbox_head=dict(
        type='RankPSWarpHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
