# CPU demo: focal-loss RetinaNet R18-FPN on coco128 at short side 320, random weights.
_base_ = [
    '../_base_/models/retinanet_r18_fpn_demo.py', '../_base_/datasets/coco128_demo.py',
    '../_base_/schedules/schedule_demo.py', '../_base_/default_runtime_demo.py'
]
