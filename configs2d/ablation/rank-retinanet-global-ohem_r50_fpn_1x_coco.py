# Table 4 Exp. (1): global ranking loss only, dynamic re-weighting, OHEM. Paper: 34.2 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(loss_cls=dict(use_class=False, use_iou=False, mining='ohem')))
