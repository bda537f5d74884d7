# SA-SSD with PSWarp, focal loss, KITTI pedestrians, cyclists and cars (one anchor size
# and assigner per class, as mmdet3d's 3-class SA-SSD), SA-SSD's schedule:
# 2 GPUs x 2 frames, one-cycle AdamW for 80 epochs.
_base_ = [
    './_base_/models/sassd_pswarp.py', './_base_/datasets/kitti-3d-3class.py',
    './_base_/schedules/onecycle-80e.py', './_base_/default_runtime.py'
]

# pedestrians and cyclists are assigned alike (the same dict twice below)
__small_object_assigner = dict(
    type='Max3DIoUAssigner',
    iou_calculator=dict(type='BboxOverlapsNearest3D'),
    pos_iou_thr=0.35,
    neg_iou_thr=0.2,
    min_pos_iou=0.2,
    ignore_iof_thr=-1)

model = dict(
    bbox_head=dict(
        num_classes=3,
        anchor_generator=dict(
            ranges=[
                [0, -40.0, -0.6, 70.4, 40.0, -0.6],
                [0, -40.0, -0.6, 70.4, 40.0, -0.6],
                [0, -40.0, -1.78, 70.4, 40.0, -1.78],
            ],
            sizes=[[0.8, 0.6, 1.73], [1.76, 0.6, 1.73], [3.9, 1.6, 1.56]],
            reshape_out=False)),
    train_cfg=dict(
        _delete_=True,
        assigner=[
            __small_object_assigner,  # Pedestrian
            __small_object_assigner,  # Cyclist
            dict(  # Car
                type='Max3DIoUAssigner',
                iou_calculator=dict(type='BboxOverlapsNearest3D'),
                pos_iou_thr=0.6,
                neg_iou_thr=0.45,
                min_pos_iou=0.45,
                ignore_iof_thr=-1),
        ],
        allowed_border=0,
        pos_weight=-1,
        debug=False))

default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=3))
