# Table 4 Exp. (8): all three losses, separate levels, no IoU-BP rule: both IoUs of a pair
# back-propagate (IoU BP "s(p_i) & s(p_j)"; the paper: letting the lower-confidence IoU
# train is what hurts), OHEM. Paper: 35.4 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(bbox_head=dict(loss_cls=dict(iou_bp='both', mining='ohem')))
