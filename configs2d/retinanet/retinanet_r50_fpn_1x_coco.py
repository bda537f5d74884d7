# Focal-loss RetinaNet R50-FPN, COCO 2017, 12 epochs: the baseline, and the warm start
# of rank-retinanet_r50_fpn_1x_coco.py. Paper (Table 1, val): 35.4 AP.
_base_ = [
    '../_base_/models/retinanet_r50_fpn.py', '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]
