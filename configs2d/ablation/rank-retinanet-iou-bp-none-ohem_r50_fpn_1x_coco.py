# Table 4 Exp. (8): all three losses, separate levels, both IoUs of a pair detached (the
# IoU-guided loss trains the confidences only; METHOD.md's reading), OHEM. Paper: 35.4 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(bbox_head=dict(loss_cls=dict(iou_bp='none', mining='ohem')))
