# Focal-loss ATSS R50-FPN ("FCOS-ATSS"), COCO 2017, 12 epochs. Paper (Table 1, val): 39.2 AP.
_base_ = [
    '../_base_/models/atss_r50_fpn.py', '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]
