# CPU demo: RankDetNet RetinaNet R18-FPN (the three ranking losses) on coco128 at short
# side 320, random weights.
_base_ = './retinanet_r18_fpn_demo_coco128.py'

model = dict(
    bbox_head=dict(
        type='RankRetinaHead',
        loss_cls=dict(_delete_=True, type='RankingLoss'),
        # From random weights rather than the paper's focal warm start, the class scores
        # start at 0.5, where the sigmoid is steepest: at focal loss's prior of 0.01 its
        # slope is 25x smaller and a short demo would hardly move the ranking losses.
        init_cfg=dict(type='Normal', layer='Conv2d', std=0.01,
                      override=dict(type='Normal', name='retina_cls', std=0.01,
                                    bias_prob=0.5))))

custom_hooks = [dict(type='RankingHealthHook')]  # rank/* health scalars, saturation warning
