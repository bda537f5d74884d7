# Table 4 Exp. (3): global + class-specific ranking losses, dynamic re-weighting, OHEM.
# Paper: 36.6 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(bbox_head=dict(loss_cls=dict(use_iou=False, mining='ohem')))
