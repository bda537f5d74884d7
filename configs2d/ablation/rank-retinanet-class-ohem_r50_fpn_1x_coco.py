# Table 4 Exp. (2): class-specific ranking loss only, dynamic re-weighting, OHEM.
# Paper: 32.7 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(loss_cls=dict(use_global=False, use_iou=False, mining='ohem')))
