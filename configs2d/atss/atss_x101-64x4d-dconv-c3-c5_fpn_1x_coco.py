# Focal-loss ATSS ResNeXt-101 64x4d FPN with deformable convolutions in stages c3-c5,
# COCO 2017, 12 epochs. Paper (Table 1, val): 47.1 AP.
_base_ = './atss_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=64,
        base_width=4,
        dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnext101_64x4d')))
