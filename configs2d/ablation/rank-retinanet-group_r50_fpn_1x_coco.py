# Table 4 Exp. (10): the full method, the defaults of RankingLoss (group mining: 15 bins
# global, 3 per class; separate levels; the IoU BP rule; dynamic re-weighting), the same
# model as ../retinanet/rank-retinanet_r50_fpn_1x_coco.py. Paper: 37.8 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(bbox_head=dict(loss_cls=dict(mining='group')))
