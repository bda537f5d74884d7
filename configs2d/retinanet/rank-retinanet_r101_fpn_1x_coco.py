# RankDetNet RetinaNet R101-FPN, from the focal R101 baseline. Paper (Table 1, val): 39.4 AP.
_base_ = './retinanet_r101_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(
        type='RankRetinaHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

load_from = 'work_dirs/retinanet_r101_fpn_1x_coco/epoch_12.pth'

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
