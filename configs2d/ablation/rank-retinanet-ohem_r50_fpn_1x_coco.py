# Table 4 Exp. (9): the full method with OHEM (3 hard negatives per positive) instead of
# group mining. Paper: 37.3 AP. Exp. (10), group mining, is
# ../retinanet/rank-retinanet_r50_fpn_1x_coco.py (37.8 AP).
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(bbox_head=dict(loss_cls=dict(mining='ohem')))
