# coco128 (128 real COCO train2017 images, 80 classes) for the CPU demo and tests, short
# side 320. It is a sanity set, not a benchmark: training and validation use the same
# images. Default root: the project's shared sample data; override with COCO128_ROOT.
# Only the root, image size, annotation file and loading differ from coco_detection.py;
# what is computed there from its own root is re-made here from this one.
_base_ = './coco_detection.py'

data_root = '{{$COCO128_ROOT:../shared/data/coco128/}}'
ann_file = 'annotations/instances_train2017.json'

# the base's steps at short side 320 (a list is replaced, not merged, by a child)
train_pipeline = [dict(step, scale=(533, 320)) if step.type == 'Resize' else step
                  for step in _base_.train_pipeline]
test_pipeline = [dict(step, scale=(533, 320)) if step.type == 'Resize' else step
                 for step in _base_.test_pipeline]
train_dataloader = dict(
    num_workers=0,  # the images are small: worker processes would cost more than they save
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),  # iteration-based demo schedule
    dataset=dict(
        data_root=data_root,
        ann_file=ann_file,
        # coco128 has two images without objects: they train as all background
        filter_cfg=dict(_delete_=True, filter_empty_gt=False),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file=ann_file,
        data_prefix=dict(img='train2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + ann_file)
test_evaluator = val_evaluator
