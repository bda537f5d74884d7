# Table 4 Exp. (7): all three losses without the dynamic re-weighting z of the global
# and class-specific losses (a plain mean over pairs), OHEM. Paper: 36.6 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(bbox_head=dict(loss_cls=dict(dynamic_reweight=False, mining='ohem')))
