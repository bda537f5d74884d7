# The paper's schedule (docs/method.md section 9): SGD, momentum 0.9, weight decay 1e-4, batch 16,
# lr 0.01, x0.1 after epochs 8 and 11, 12 epochs. The paper does not state a warm-up;
# this keeps mmdet's linear warm-up over the first 500 iterations.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))

# tools/train.py --auto-scale-lr rescales lr for another total batch size
auto_scale_lr = dict(enable=False, base_batch_size=16)
