"""Gradients of the ranking heads: one process that sees every image, and DDP over ranks.

Launched by tests/test_distributed.py with torchrun (CPU, gloo)::

    python -m torch.distributed.run --nproc_per_node 2 \
        tests/dist_scripts/head_gradients.py OUT_DIR

Every rank builds each head of ``CASES`` from its config with the same seed and the same
``NUM_IMAGES`` inputs (fixed feature maps and ground truth: the head's gradients, free of
the backbone's BatchNorm, whose statistics depend on how the batch is split). Then:

1. ``reference``: before the process group exists (``reduce_mean`` is then the identity),
   the head's gradients on all images at once: one process with P x B images.
2. ``naive``: the mean over ranks' chunks of each chunk's gradients, each computed alone:
   what DDP would give if each process normalised by its own count. The test asserts that
   it differs from the reference, so the split below can tell the two apart.
3. ``distributed``: mmengine's ``init_dist('pytorch', backend='nccl')`` as the runner calls
   it (rankdet's compat fix turns it into gloo on CPU), the head wrapped in
   ``MMDistributedDataParallel`` as ``Runner.wrap_model`` does, one forward and backward
   on this rank's chunk of B images; DDP averages the gradients over ranks.

Images are split in contiguous chunks, and the last image has no ground truth: with 2
ranks of 2 images, rank 0 has 2 images with positives and rank 1 has 1, so a per-process
mean over images differs from the global one. Each rank writes
``OUT_DIR/<case>_rank<r>.pt`` = {'reference', 'naive', 'distributed'}: dicts of parameter
name -> gradient (zeros where a parameter got none).
"""
import faulthandler
import gc
import math
import os
import os.path as osp
import sys

import torch
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import rankdet.registration  # noqa: E402,F401  registers the heads, applies the fixes

NUM_IMAGES = 4
WATCHDOG_S = 240
IMAGE_SIZE = 128
TINY_RANGE = [0, -3.2, -1.78, 6.4, 3.2, -1.78]  # 3D anchors over 6.4 m x 6.4 m: an 8 x 8 map
ANCHOR_PITCH = 6.4 / 7

# name: (config, which losses to back-propagate, scope, input maker). RetinaHead and
# Anchor3DHead normalise their box losses by the positives of their own process, as
# mmdet/mmdet3d do; the ranking terms are what rankdet normalises over processes. ATSS's
# box and centerness losses are normalised over processes by mmdet itself: all its terms.
CASES = {
    'rank_retinanet_2d': ('configs2d/demo/rank-retinanet_r18_fpn_demo_synthetic.py',
                          'ranking', 'mmdet', 'coco_inputs'),
    'rank_atss_2d': ('configs2d/demo/rank-atss_r18_fpn_demo_synthetic.py',
                     'all', 'mmdet', 'coco_inputs'),
    'rank_sassd_3d': ('configs3d/rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py',
                      'ranking', 'mmdet3d', 'kitti_inputs'),
}


def coco_inputs(head, generator):
    """FPN features of NUM_IMAGES images of 128 x 128 and 1-3 boxes per image but the last."""
    from mmengine.structures import InstanceData

    sizes = [IMAGE_SIZE // stride[0] for stride in head.prior_generator.strides]
    feats = tuple(torch.randn(NUM_IMAGES, head.in_channels, s, s, generator=generator)
                  for s in sizes)
    gts, metas = [], []
    for index in range(NUM_IMAGES):
        count = 0 if index == NUM_IMAGES - 1 else 1 + index % 3
        wh = 24 + 56 * torch.rand(count, 2, generator=generator)
        xy = (IMAGE_SIZE - wh) * torch.rand(count, 2, generator=generator)
        gt = InstanceData()
        gt.bboxes = torch.cat([xy, xy + wh], dim=1)  # [count, 4]
        gt.labels = torch.randint(head.num_classes, (count,), generator=generator)
        gts.append(gt)
        shape = (IMAGE_SIZE, IMAGE_SIZE)
        metas.append(dict(img_shape=shape, pad_shape=shape, batch_input_shape=shape,
                          scale_factor=(1.0, 1.0)))
    return feats, gts, metas


def kitti_inputs(head, generator):
    """A BEV map of NUM_IMAGES frames, 1-2 cars on anchors (jittered) per frame but the last."""
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmengine.structures import InstanceData

    feats = (torch.randn(NUM_IMAGES, head.in_channels, 8, 8, generator=generator),)
    gts, metas = [], []
    for index in range(NUM_IMAGES):
        count = 0 if index == NUM_IMAGES - 1 else 1 + index % 2
        cells = torch.randint(1, 7, (count, 2), generator=generator).float()
        jitter = 0.2 * (torch.rand(count, 2, generator=generator) - 0.5)
        xy = cells * ANCHOR_PITCH + torch.tensor([0.0, -3.2]) + jitter
        yaw = (math.pi / 2) * torch.randint(2, (count, 1), generator=generator).float()
        size = torch.tensor([[-1.78, 3.9, 1.6, 1.56]]).expand(count, 4)
        gt = InstanceData()
        gt.bboxes_3d = LiDARInstance3DBoxes(torch.cat([xy, size, yaw], dim=1))
        gt.labels_3d = torch.zeros(count, dtype=torch.long)
        gts.append(gt)
        metas.append(dict(box_type_3d=LiDARInstance3DBoxes))
    return feats, gts, metas


class HeadLoss(nn.Module):
    """The head's summed training loss (the selected terms), as DDP's wrapped module."""

    def __init__(self, head, terms):
        super().__init__()
        self.head, self.terms = head, terms

    def forward(self, feats, gts, metas):
        losses = self.head.loss_by_feat(*self.head(feats), gts, metas)
        total = 0
        for name, value in losses.items():
            if self.terms == 'ranking' and not name.startswith('loss_rank'):
                continue
            total = total + (sum(value) if isinstance(value, (list, tuple)) else value)
        return total


def build_head(config, scope):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(scope)
    if scope == 'mmdet3d':
        from mmdet3d.registry import MODELS

        import rankdet.models.sassd  # noqa: F401  registers the SA-SSD heads
    else:
        from mmdet.registry import MODELS
    head_cfg = cfg.model.bbox_head.copy()
    head_cfg.update(train_cfg=cfg.model.train_cfg, test_cfg=cfg.model.test_cfg)
    if scope == 'mmdet3d':
        head_cfg.anchor_generator.ranges = [TINY_RANGE]
    torch.manual_seed(0)
    head = MODELS.build(head_cfg)
    head.init_weights()
    return head


def chunk(inputs, start, stop):
    feats, gts, metas = inputs
    return tuple(f[start:stop] for f in feats), gts[start:stop], metas[start:stop]


def gradients(model, inputs):
    model.zero_grad(set_to_none=True)
    model(*inputs).backward()
    head = model.module.head if hasattr(model, 'module') else model.head
    return {name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
            for name, p in head.named_parameters()}


def main(out_dir):
    from mmengine.dist import get_dist_info, init_dist
    from mmengine.model import MMDistributedDataParallel
    from mmengine.registry import init_default_scope

    # a collective that waits for a dead peer prints where it waits and ends the worker
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    world_size = int(os.environ['WORLD_SIZE'])
    if NUM_IMAGES % world_size:
        raise ValueError(f'{NUM_IMAGES} images do not split over {world_size} processes')
    per_rank = NUM_IMAGES // world_size
    results = {}
    for name, (config, terms, scope, make_inputs) in CASES.items():
        head = build_head(config, scope)
        inputs = globals()[make_inputs](head, torch.Generator().manual_seed(0))
        model = HeadLoss(head, terms)
        reference = gradients(model, inputs)
        chunks = [gradients(model, chunk(inputs, r * per_rank, (r + 1) * per_rank))
                  for r in range(world_size)]
        naive = {key: sum(c[key] for c in chunks) / world_size for key in reference}
        results[name] = dict(reference=reference, naive=naive, inputs=inputs, model=model,
                             scope=scope)

    init_dist('pytorch', backend='nccl')  # what the runtime configs ask for
    rank, _ = get_dist_info()
    for name, result in results.items():
        init_default_scope(result['scope'])
        ddp = MMDistributedDataParallel(
            module=result['model'],  # the same weights: no step was taken
            device_ids=[int(os.environ['LOCAL_RANK'])],  # as Runner.wrap_model passes
            broadcast_buffers=False, find_unused_parameters=True)
        distributed = gradients(ddp, chunk(result['inputs'], rank * per_rank,
                                           (rank + 1) * per_rank))
        # freed before the process group: a DDP wrapper left to the end of main was seen
        # to hang the worker at exit (once in three runs) after destroy_process_group
        del ddp
        path = osp.join(out_dir, f'{name}_rank{rank}.pt')
        torch.save(dict(reference=result['reference'], naive=result['naive'],
                        distributed=distributed), path + '.tmp')
        os.replace(path + '.tmp', path)
    gc.collect()
    torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
