# KITTI-format car sets for the CPU demo: the KITTI car pipeline on a smaller range,
# [0, 35.2] x [-20, 20] x [-3, 1] m, and batches light enough for 2 CPU cores. Info files
# by tools/create_data.py; data_root is the synthetic set of tools/make_synthetic.py.
# Only the data root, range, sampling and workers differ from kitti-3d-car.py; the values
# computed there from its own root and range are re-made here from these.
_base_ = './kitti-3d-car.py'

data_root = 'data/synthetic/kitti/'
point_cloud_range = [0, -20, -3, 35.2, 20, 1]

db_sampler = dict(
    _base_.db_sampler, data_root=data_root, info_path=data_root + 'kitti_dbinfos_train.pkl',
    sample_groups=dict(Car=10))
# the base's steps with these settings (a list is replaced, not merged, by a child)
__changes = dict(
    ObjectSample=dict(db_sampler=db_sampler),
    PointsRangeFilter=dict(point_cloud_range=point_cloud_range),
    ObjectRangeFilter=dict(point_cloud_range=point_cloud_range))
train_pipeline = [dict(step, **__changes.get(step.type, {})) for step in _base_.train_pipeline]
test_pipeline = [dict(step, **__changes.get(step.type, {})) for step in _base_.test_pipeline]

train_dataloader = dict(
    # in-process loading: numba compiles the augmentations once per process, and a
    # fresh worker every epoch would compile them again (~20 s each)
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'kitti_infos_val.pkl')
test_evaluator = val_evaluator
