# Table 4 Exp. (4): focal loss + the IoU-guided ranking loss (separate levels, the
# lower-confidence IoU detached). Paper: 36.2 AP.
_base_ = '../retinanet/rank-retinanet_r50_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(use_global=False, use_class=False),
        loss_pointwise=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)))
