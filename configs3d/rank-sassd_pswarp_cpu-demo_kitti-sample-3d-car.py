# CPU demo with ranking losses on the real KITTI sample (../shared/data/kitti_sample:
# 2 train + 4 val labelled frames), converted with
#   python tools/create_data.py kitti --root-path ../shared/data/kitti_sample \
#       --out-dir data/kitti_sample
# The synthetic demo with another data root: the settings below only re-root it.
_base_ = './rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py'

data_root = 'data/kitti_sample/'
point_cloud_range = [0, -20, -3, 35.2, 20, 1]

db_sampler = dict(
    data_root=data_root,
    info_path=data_root + 'kitti_dbinfos_train.pkl',
    rate=1.0,
    prepare=dict(filter_by_difficulty=[-1], filter_by_min_points=dict(Car=5)),
    classes=['Car'],
    sample_groups=dict(Car=10),
    points_loader=dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4))
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=db_sampler),
    dict(type='ObjectNoise', num_try=100, translation_std=[1.0, 1.0, 0.5],
         global_rot_range=[0.0, 0.0], rot_range=[-0.78539816, 0.78539816]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.78539816, 0.78539816],
         scale_ratio_range=[0.95, 1.05]),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]

train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
val_evaluator = dict(ann_file=data_root + 'kitti_infos_val.pkl')
test_evaluator = dict(ann_file=data_root + 'kitti_infos_val.pkl')
