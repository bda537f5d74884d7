# Table 4 Exp. (5): all three losses, IoU pairs across merged pyramid levels, no IoU-BP
# rule (gradient through both IoUs of a pair), OHEM. Paper: 36.7 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(loss_cls=dict(iou_levels='merge', iou_bp='both', mining='ohem')))
