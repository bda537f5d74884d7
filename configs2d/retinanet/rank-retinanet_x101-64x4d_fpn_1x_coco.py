# RankDetNet RetinaNet ResNeXt-101 64x4d FPN, from the focal baseline.
# Paper (Table 1, val): 41.6 AP.
_base_ = './retinanet_x101-64x4d_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(
        type='RankRetinaHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

load_from = 'work_dirs/retinanet_x101-64x4d_fpn_1x_coco/epoch_12.pth'

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
