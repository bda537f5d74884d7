# `make demo`, 3D focal warm start: SA-SSD with PSWarp at CPU-demo size on the demo's
# synthetic KITTI-format set (apps/demo/demo_data.py: cars at 5-20 m, 64 beams). Against
# the evidence's CPU demo (sassd_pswarp_cpu-demo_synthetic-3d-car.py) it looks only as far
# as the demo's cars ([0, 25.6] x [-16, 16] m, 0.1 m voxels: a 40 x 32 BEV map at 0.8 m)
# and is lighter after the sparse encoder ("lite": SECOND with 3 + 3 blocks of 64 / 128
# channels, a 256-channel head), so that two CPU cores train it in minutes; rotations stay
# within +-22.5 degrees, as the demo's cars mostly follow the road.
_base_ = './sassd_pswarp_cpu-demo_synthetic-3d-car.py'

point_cloud_range = [0, -16, -3, 25.6, 16, 1]
voxel_size = [0.1, 0.1, 0.1]
data_root = 'data/demo/kitti/'

model = dict(
    data_preprocessor=dict(
        voxel_layer=dict(point_cloud_range=point_cloud_range, voxel_size=voxel_size)),
    middle_encoder=dict(
        sparse_shape=[41, 320, 256], point_cloud_range=point_cloud_range,
        voxel_size=voxel_size),
    backbone=dict(layer_nums=[3, 3], out_channels=[64, 128]),
    neck=dict(in_channels=[64, 128], out_channels=[128, 128]),
    bbox_head=dict(
        in_channels=256, feat_channels=256,
        anchor_generator=dict(ranges=[[0, -16.0, -1.78, 25.6, 16.0, -1.78]])))

db_sampler = dict(
    _base_.db_sampler, data_root=data_root, info_path=data_root + 'kitti_dbinfos_train.pkl',
    sample_groups=dict(Car=8))
# the base's steps with these settings (a list is replaced, not merged, by a child)
__changes = dict(
    ObjectSample=dict(db_sampler=db_sampler),
    ObjectNoise=dict(translation_std=[0.5, 0.5, 0.2], rot_range=[-0.39269908, 0.39269908]),
    GlobalRotScaleTrans=dict(rot_range=[-0.39269908, 0.39269908]),
    PointsRangeFilter=dict(point_cloud_range=point_cloud_range),
    ObjectRangeFilter=dict(point_cloud_range=point_cloud_range))
train_pipeline = [dict(step, **__changes.get(step.type, {})) for step in _base_.train_pipeline]
test_pipeline = [dict(step, **__changes.get(step.type, {})) for step in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'kitti_infos_val.pkl')
test_evaluator = val_evaluator
