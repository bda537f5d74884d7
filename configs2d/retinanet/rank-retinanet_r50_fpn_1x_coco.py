# RankDetNet RetinaNet R50-FPN: the three ranking losses (group mining, separate levels,
# lower-confidence IoU detached) in place of focal loss, 12 epochs from the focal
# baseline's weights. Paper (Table 1, val): 37.8 AP; Table 4 Exp. (10).
_base_ = './retinanet_r50_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(
        type='RankRetinaHead',
        loss_cls=dict(_delete_=True, type='RankingLoss')))

# warm start (docs/method.md section 9): train retinanet_r50_fpn_1x_coco.py first, with
# tools/train.py's default work dir, or point this at its final checkpoint
load_from = 'work_dirs/retinanet_r50_fpn_1x_coco/epoch_12.pth'

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
