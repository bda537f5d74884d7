# Evidence: the focal twin (retinanet_r18-w32_fpn_coco128-320.py) with RankDetNet's three ranking
# losses in place of focal loss. tools/compare.py starts it from the focal run's checkpoint
# (the warm start of docs/method.md section 9), so the class-score prior is the focal run's.
_base_ = './retinanet_r18-w32_fpn_coco128-320.py'

model = dict(
    bbox_head=dict(type='RankRetinaHead', loss_cls=dict(_delete_=True, type='RankingLoss')))

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
