# RankDetNet ATSS R50-FPN: the ranking losses in place of focal loss (box and
# centerness losses unchanged), from the focal baseline. Paper (Table 1, val): 40.7 AP.
_base_ = './atss_r50_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(
        type='RankATSSHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

load_from = 'work_dirs/atss_r50_fpn_1x_coco/epoch_12.pth'

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
