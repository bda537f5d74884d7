# `make demo`, 3D focal warm start: SA-SSD with PSWarp at CPU-demo size on the demo's
# synthetic KITTI-format set (rankdet/demo/demo_data.py: cars at 5-20 m, 64 beams). Against
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

backend_args = None
db_sampler = dict(
    data_root=data_root,
    info_path=data_root + 'kitti_dbinfos_train.pkl',
    rate=1.0,
    prepare=dict(filter_by_difficulty=[-1], filter_by_min_points=dict(Car=5)),
    classes=['Car'],
    sample_groups=dict(Car=8),
    points_loader=dict(
        type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4,
        backend_args=backend_args),
    backend_args=backend_args)
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4,
         backend_args=backend_args),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=db_sampler),
    dict(type='ObjectNoise', num_try=100, translation_std=[0.5, 0.5, 0.2],
         global_rot_range=[0.0, 0.0], rot_range=[-0.39269908, 0.39269908]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.39269908, 0.39269908],
         scale_ratio_range=[0.95, 1.05]),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4,
         backend_args=backend_args),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points'])
]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'kitti_infos_val.pkl')
test_evaluator = val_evaluator
