"""The CUDA path gives what the CPU path gives: the ranking losses (every evidence
variant), both 2D ranking heads, the 3D IoU, mmcv's NMS and voxelisation, spconv. Marked
``cuda``: skipped where torch sees no CUDA device (tests/conftest.py)."""
import copy
import importlib.util
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.cuda

ROOT = Path(__file__).resolve().parents[1]


def load_gpu_check():
    spec = importlib.util.spec_from_file_location('rankdet_gpu_check_ops',
                                                  ROOT / 'tools' / 'gpu_check.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = load_gpu_check()


def close(cuda, cpu, what, tol=1e-4):
    gpu_check._assert_close(cuda, cpu, what, tol)


def ranking_batch(seed, num_images=2, num_anchors=3000, num_classes=6):
    """Logits [B, A, C], labels [B, A] (-1 ignored, C background), IoUs, levels [B, A]."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_images, num_anchors, num_classes, generator=gen) - 2
    labels = torch.full((num_images, num_anchors), num_classes, dtype=torch.long)
    pos = torch.rand(num_images, num_anchors, generator=gen) < 0.03
    labels[pos] = torch.randint(0, num_classes, (int(pos.sum()),), generator=gen)
    labels[torch.rand(num_images, num_anchors, generator=gen) < 0.02] = -1
    ious = torch.rand(num_images, num_anchors, generator=gen)
    levels = torch.randint(0, 5, (num_images, num_anchors), generator=gen)
    return logits, labels, ious, levels


VARIANTS = {  # the evidence variants (the agreed API), plus the sigmoid chunked path
    'paper': {}, 'ohem': dict(mining='ohem'), 'size': dict(group_weighting='size'),
    'logit': dict(score_space='logit', rank_fn='logistic'), 'none-mining': dict(mining='none'),
    'sigmoid': dict(rank_fn='sigmoid'),
}


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_ranking_loss_on_cuda_equals_cpu(variant):
    from rankdet.models.losses import RankingLoss

    loss = RankingLoss(**VARIANTS[variant])
    logits, labels, ious, levels = ranking_batch(seed=1)
    results = []
    for device in ('cpu', 'cuda'):
        x = logits.to(device).requires_grad_(True)
        iou = ious.to(device).requires_grad_(True)
        terms = loss(x, labels.to(device), ious=iou, levels=levels.to(device))
        sum(terms.values()).backward()
        assert all(t.device.type == device for t in terms.values())
        results.append((terms, x.grad, iou.grad))
    (cpu_terms, cpu_gx, cpu_gi), (gpu_terms, gpu_gx, gpu_gi) = results
    assert cpu_terms.keys() == gpu_terms.keys()
    for name in cpu_terms:
        close(gpu_terms[name], cpu_terms[name], f'{variant} {name}')
    close(gpu_gx, cpu_gx, f'{variant} gradient of the logits', tol=1e-3)
    close(gpu_gi, cpu_gi, f'{variant} gradient of the IoUs', tol=1e-3)


HEAD_COMMON = dict(
    num_classes=3, stacked_convs=1,
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                    target_stds=[0.1, 0.1, 0.2, 0.2]),
    loss_cls=dict(type='RankingLoss'),
    test_cfg=dict(nms_pre=50, min_bbox_size=0, score_thr=0.0,
                  nms=dict(type='nms', iou_threshold=0.6), max_per_img=30))
HEADS = {
    'RankRetinaHead': dict(
        type='RankRetinaHead', in_channels=8, feat_channels=8,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                              scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                              strides=[8, 16, 32]),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                                     neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
                       sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                       debug=False)),
    'RankATSSHead': dict(
        type='RankATSSHead', in_channels=8, feat_channels=8,
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=4,
                              scales_per_octave=1, strides=[8, 16, 32]),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1,
                       pos_weight=-1, debug=False)),
}


@pytest.mark.parametrize('name', sorted(HEADS))
def test_ranking_heads_on_cuda_equal_cpu(name):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData

    import rankdet.registration  # noqa: F401  registers the heads

    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    head = MODELS.build(dict(copy.deepcopy(HEAD_COMMON), **HEADS[name]))
    head.init_weights()
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 8, 128 // s, 128 // s, generator=gen) for s in (8, 16, 32)]
    xy = torch.rand(2, 5, 2, generator=gen) * 60
    wh = 28 + torch.rand(2, 5, 2, generator=gen) * 40
    boxes = torch.cat([xy, (xy + wh).clamp(max=128)], 2)
    labels = torch.tensor([0, 1, 2, 0, 1])
    metas = [dict(img_shape=(128, 128), pad_shape=(128, 128),
                  batch_input_shape=(128, 128), scale_factor=(1.0, 1.0))] * 2
    results = []
    for device in ('cpu', 'cuda'):
        head.to(device).zero_grad()
        outs = head([f.to(device) for f in feats])
        gts = [InstanceData(bboxes=b.to(device), labels=labels.to(device)) for b in boxes]
        losses = head.loss_by_feat(*outs, gts, metas)
        total = sum(v if torch.is_tensor(v) else sum(v) for v in losses.values())
        total.backward()
        values = {k: (v if torch.is_tensor(v) else sum(v)).detach() for k, v in losses.items()}
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
                 for p in head.parameters()]
        results.append((values, grads))
    (cpu_losses, cpu_grads), (gpu_losses, gpu_grads) = results
    assert cpu_losses.keys() == gpu_losses.keys()
    for key in cpu_losses:
        close(gpu_losses[key], cpu_losses[key], f'{name} {key}', tol=1e-3)
    for i, (a, b) in enumerate(zip(gpu_grads, cpu_grads)):
        close(a, b, f'{name} gradient of parameter {i}', tol=2e-3)


def test_iou3d_on_cuda_equals_cpu():
    from rankdet.ops.iou3d import bev_iou, iou3d

    gen = torch.Generator().manual_seed(0)
    centres = torch.rand(40, 3, generator=gen) * torch.tensor([10.0, 10.0, 1.0])
    sizes = 1 + 3 * torch.rand(40, 3, generator=gen)
    yaws = (torch.rand(40, 1, generator=gen) - 0.5) * 6.28
    boxes = torch.cat([centres, sizes, yaws], 1).double()
    for fn in (bev_iou, iou3d):
        results = []
        for device in ('cpu', 'cuda'):
            a = boxes[:20].to(device).requires_grad_(True)
            value = fn(a, boxes[20:].to(device))
            value.sum().backward()
            results.append((value, a.grad))
        assert (results[0][0] > 0).any()  # some pairs overlap
        close(results[1][0], results[0][0], f'{fn.__name__} value', tol=1e-9)
        close(results[1][1], results[0][1], f'{fn.__name__} gradient', tol=1e-9)


@pytest.mark.parametrize('check', ['check_nms', 'check_voxel', 'check_spconv', 'check_env'])
def test_gpu_check_op_checks(check, tmp_path):
    result = getattr(gpu_check, check)(tmp_path)
    assert result['result']
