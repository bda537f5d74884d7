# Evidence (tools/compare.py): focal-loss RetinaNet R18 (half width) on coco128 at short
# side 320, batch 4. Training and validation use the same 128 images: a fitting check of
# the two losses on real images, not a benchmark.
_base_ = [
    '../_base_/models/retinanet_r18-w32_fpn_evidence.py',
    '../_base_/datasets/coco128_demo.py', '../_base_/schedules/schedule_evidence.py',
    '../_base_/default_runtime_demo.py'
]

train_dataloader = dict(batch_size=4)
