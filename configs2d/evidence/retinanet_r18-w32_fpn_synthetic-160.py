# Evidence (tools/compare.py, `make evidence`): focal-loss RetinaNet R18 (half width) on
# rankdet's synthetic shapes (tools/make_synthetic.py coco --num-train 2000 --num-val 500),
# images at their own size (short side 160), anchors from 16 px (octave_base_scale 2: the
# shapes are 12-100 px across), batch 4. tools/compare.py sets the data root, length, seed
# and warm start; the ranking twin shares every line but the loss.
_base_ = [
    '../_base_/models/retinanet_r18-w32_fpn_evidence.py',
    '../_base_/datasets/synthetic_demo.py', '../_base_/schedules/schedule_evidence.py',
    '../_base_/default_runtime_demo.py'
]

model = dict(bbox_head=dict(num_classes=5, anchor_generator=dict(octave_base_scale=2)))

scale = (267, 160)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
