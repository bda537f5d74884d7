# mmdet's RetinaNet R50-FPN (focal loss, MaxIoU assigner, L1 box loss), tested as the
# paper does: score threshold 0.05, top 1000 per level, soft-NMS at IoU 0.6 (mmcv's
# linear soft-NMS) for the baseline and the ranking models alike.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

model = dict(
    test_cfg=dict(
        nms_pre=1000,
        score_thr=0.05,
        nms=dict(_delete_=True, type='soft_nms', iou_threshold=0.6),
        max_per_img=100))
