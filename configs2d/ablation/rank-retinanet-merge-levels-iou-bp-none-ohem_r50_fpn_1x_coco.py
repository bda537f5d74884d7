# Table 4 Exp. (5): all three losses, IoU pairs across merged pyramid levels, both IoUs
# of a pair frozen (IoU BP "x": the IoU-guided loss trains the confidences only), OHEM.
# Paper: 36.7 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(loss_cls=dict(iou_levels='merge', iou_bp='none', mining='ohem')))
