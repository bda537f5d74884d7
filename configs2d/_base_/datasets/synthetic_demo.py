# rankdet's synthetic shapes set (tools/make_synthetic.py coco --out-dir data/synthetic),
# COCO layout, 5 classes, images of 128-192 pixels shown at short side 320. Override
# the root with SYNTHETIC_COCO_ROOT.
dataset_type = 'CheckedCocoDataset'
data_root = '{{$SYNTHETIC_COCO_ROOT:data/synthetic/coco/}}'
metainfo = dict(classes=('circle', 'square', 'triangle', 'star', 'ellipse'))
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(533, 320), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(533, 320), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,  # the images are small: worker processes would cost more than they save
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),  # iteration-based demo schedule
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline,
        # every image is checked before the first iteration (False: no check)
        check_files=True,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        check_files=True,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='RankCocoMetric',  # mmdet's CocoMetric (pycocotools) with progress
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
