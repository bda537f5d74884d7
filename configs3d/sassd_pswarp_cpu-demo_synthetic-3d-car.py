# CPU demo, focal baseline: SA-SSD with PSWarp on the synthetic KITTI-format set
# (tools/make_synthetic.py kitti, then tools/create_data.py kitti), on a smaller range with
# 0.1 m voxels (BEV map 50 x 44 at 0.8 m), 1 process x 2 frames, 100 iterations.
_base_ = [
    './_base_/models/sassd_pswarp.py', './_base_/datasets/kitti-3d-car_cpu-demo.py',
    './_base_/schedules/cpu-demo.py', './_base_/default_runtime.py'
]

voxel_size = [0.1, 0.1, 0.1]
point_cloud_range = [0, -20, -3, 35.2, 20, 1]

model = dict(
    data_preprocessor=dict(
        voxel_layer=dict(
            point_cloud_range=point_cloud_range,
            voxel_size=voxel_size,
            max_voxels=(12000, 20000))),  # (train, test): every voxel of a frame
    middle_encoder=dict(
        sparse_shape=[41, 400, 352],
        point_cloud_range=point_cloud_range,
        voxel_size=voxel_size),
    bbox_head=dict(
        anchor_generator=dict(ranges=[[0, -20.0, -1.78, 35.2, 20.0, -1.78]])))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100))
log_processor = dict(type='LogProcessor', window_size=5, by_epoch=False)
