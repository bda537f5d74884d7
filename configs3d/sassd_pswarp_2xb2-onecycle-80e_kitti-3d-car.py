# SA-SSD with PSWarp, focal loss (the baseline), KITTI cars, SA-SSD's schedule:
# 2 GPUs x 2 frames, one-cycle AdamW for 80 epochs.
_base_ = [
    './_base_/models/sassd_pswarp.py', './_base_/datasets/kitti-3d-car.py',
    './_base_/schedules/onecycle-80e.py', './_base_/default_runtime.py'
]

default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=3))
