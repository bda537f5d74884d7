# RankDetNet ATSS ResNeXt-101 64x4d DCN (c3-c5), from the focal baseline.
# Paper (Table 1, val): 48.1 AP.
_base_ = './atss_x101-64x4d-dconv-c3-c5_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(
        type='RankATSSHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

load_from = 'work_dirs/atss_x101-64x4d-dconv-c3-c5_fpn_1x_coco/epoch_12.pth'

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
