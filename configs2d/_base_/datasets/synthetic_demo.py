# rankdet's synthetic shapes set (tools/make_synthetic.py coco --out-dir data/synthetic),
# COCO layout, 5 classes, images of 128-192 pixels shown at short side 320. Override
# the root with SYNTHETIC_COCO_ROOT. Only the root, classes, image size and loading differ
# from coco_detection.py; what is computed there from its own root is re-made here.
_base_ = './coco_detection.py'

data_root = '{{$SYNTHETIC_COCO_ROOT:data/synthetic/coco/}}'
metainfo = dict(classes=('circle', 'square', 'triangle', 'star', 'ellipse'))

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
        metainfo=metainfo,
        data_root=data_root,
        filter_cfg=dict(_delete_=True, filter_empty_gt=False),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(metainfo=metainfo, data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
