# `make demo`, 3D ranking continuation: the demo's SA-SSD (see the focal twin) with
# RankDetNet's ranking losses in place of focal loss; started from the focal warm start's
# checkpoint (load_from, set by tools/demo.py).
_base_ = './sassd-lite_pswarp_cpu-demo-near_synthetic-3d-car.py'

model = dict(
    bbox_head=dict(
        type='RankPSWarpHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
