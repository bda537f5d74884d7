# KITTI pedestrians, cyclists and cars, LiDAR only, for mmdet3d 1.4 info files written by
# tools/create_data.py (kitti_infos_{train,val}.pkl, training/velodyne_reduced, the
# GT-sampling database). Sampling as mmdet3d's kitti-3d-3class. Only the classes and their
# sampling differ from kitti-3d-car.py; what is computed there from them is re-made here.
_base_ = './kitti-3d-car.py'

class_names = ['Pedestrian', 'Cyclist', 'Car']
metainfo = dict(classes=class_names)

db_sampler = dict(
    _base_.db_sampler,
    prepare=dict(filter_by_difficulty=[-1],
                 filter_by_min_points=dict(Car=5, Pedestrian=10, Cyclist=10)),
    classes=class_names,
    sample_groups=dict(Car=12, Pedestrian=6, Cyclist=6))
# the base's steps with this sampler (a list is replaced, not merged, by a child)
train_pipeline = [dict(step, db_sampler=db_sampler) if step.type == 'ObjectSample' else step
                  for step in _base_.train_pipeline]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline, metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
