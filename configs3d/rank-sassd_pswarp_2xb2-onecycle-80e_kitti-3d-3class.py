# The 3-class baseline with RankDetNet's ranking losses in place of focal loss, started
# from the trained 3-class focal baseline (train that config first).
_base_ = './sassd_pswarp_2xb2-onecycle-80e_kitti-3d-3class.py'

model = dict(
    bbox_head=dict(
        type='RankPSWarpHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

load_from = 'work_dirs/sassd_pswarp_2xb2-onecycle-80e_kitti-3d-3class/epoch_80.pth'

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
