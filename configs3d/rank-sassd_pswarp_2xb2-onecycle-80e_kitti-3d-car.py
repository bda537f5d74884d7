# The baseline with its focal classification loss replaced by RankDetNet's global,
# class-specific and IoU-guided (rotated 3D IoU) ranking losses. Same network, targets,
# box and direction losses, schedule and inference. As in the paper, the ranking losses
# start from the trained focal baseline (train that config first).
_base_ = './sassd_pswarp_2xb2-onecycle-80e_kitti-3d-car.py'

model = dict(
    bbox_head=dict(
        type='RankPSWarpHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

load_from = 'work_dirs/sassd_pswarp_2xb2-onecycle-80e_kitti-3d-car/epoch_80.pth'

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
