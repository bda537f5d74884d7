# Focal-loss RetinaNet ResNeXt-101 64x4d FPN, COCO 2017, 12 epochs.
# Paper (Table 1, val): 39.7 AP.
_base_ = './retinanet_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=64,
        base_width=4,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnext101_64x4d')))
