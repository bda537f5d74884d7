# Focal-loss RetinaNet R101-FPN, COCO 2017, 12 epochs. Paper (Table 1, val): 37.5 AP.
_base_ = './retinanet_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
