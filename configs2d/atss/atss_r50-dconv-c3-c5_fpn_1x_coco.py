# Focal-loss ATSS R50-FPN with deformable convolutions in stages c3-c5 (the paper says
# "ResNet-50-DCN"; c3-c5 is mmdet's usual choice), COCO 2017, 12 epochs.
# Paper (Table 1, val): 43.9 AP.
_base_ = './atss_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True)))
