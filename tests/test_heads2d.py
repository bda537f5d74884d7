"""RankRetinaHead / RankATSSHead: the ranking losses see mmdet's targets in the right order,
the box losses and inference stay the baseline's, and gradients reach the right branch.

References are written plainly: the flattening indexes each level's map by
(image, base anchor, class, row, column) in a loop over levels, and the IoU is the
textbook formula on boxes decoded one anchor at a time.
"""
import copy
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

import rankdet.registration  # noqa: E402,F401  registers the heads, the loss
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from rankdet.models.dense_heads.ranking_targets import (  # noqa: E402
    level_targets, ranking_samples)
from rankdet.models.losses import RankingLoss  # noqa: E402

register_all_modules(init_default_scope=True)
DEFAULT_SCOPE = 'mmdet'  # every test builds in mmdet's scope (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
NUM_CLASSES = 3
IMAGE = 128
STRIDES = [8, 16, 32]

RETINA = dict(
    type='RetinaHead', num_classes=NUM_CLASSES, in_channels=8, feat_channels=8,
    stacked_convs=1,
    anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                          ratios=[0.5, 1.0, 2.0], strides=STRIDES),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                    target_stds=[1.0] * 4),
    loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                  loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0),
    train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                 min_pos_iou=0, ignore_iof_thr=-1),
                   sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                   debug=False),
    test_cfg=dict(nms_pre=50, min_bbox_size=0, score_thr=0.0,
                  nms=dict(type='soft_nms', iou_threshold=0.6), max_per_img=30))

ATSS = dict(
    type='ATSSHead', num_classes=NUM_CLASSES, in_channels=32, feat_channels=32,
    stacked_convs=1,
    anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=4,
                          scales_per_octave=1, strides=STRIDES),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                    target_stds=[0.1, 0.1, 0.2, 0.2]),
    loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                  loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
    loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1,
                   pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=50, min_bbox_size=0, score_thr=0.0,
                  nms=dict(type='soft_nms', iou_threshold=0.6), max_per_img=30))

BASELINES = {'RankRetinaHead': RETINA, 'RankATSSHead': ATSS}


def rank_cfg(name, **loss):
    cfg = copy.deepcopy(BASELINES[name])
    cfg.update(type=name, loss_cls=dict(type='RankingLoss', **loss))
    return cfg


def build_pair(name, seed, **loss):
    """The focal baseline head and the ranking head, with the same weights."""
    torch.manual_seed(seed)
    base = MODELS.build(copy.deepcopy(BASELINES[name]))
    base.init_weights()
    with torch.no_grad():  # spread the scores, so that pairs are not all ties
        for p in base.parameters():
            p.add_(0.05 * torch.randn_like(p))
    rank = MODELS.build(rank_cfg(name, **loss))
    rank.load_state_dict(base.state_dict(), strict=True)
    return base, rank


def make_batch(head, seed, empty_second=False):
    """Features of two 128x128 images and their ground truth (3 classes, 2 levels)."""
    gen = torch.Generator().manual_seed(seed)
    feats = [torch.randn(2, head.in_channels, IMAGE // s, IMAGE // s, generator=gen)
             for s in STRIDES]
    gts = []
    for i in range(2):
        if empty_second and i == 1:
            gts.append(InstanceData(bboxes=torch.zeros(0, 4),
                                    labels=torch.zeros(0, dtype=torch.long)))
            continue
        xy = torch.rand(6, 2, generator=gen) * 60
        wh = torch.tensor([[30., 34], [36, 28], [70, 64], [60, 66], [32, 32], [66, 58]])
        wh = wh * (0.9 + 0.2 * torch.rand(6, 2, generator=gen))
        gts.append(InstanceData(bboxes=torch.cat([xy, (xy + wh).clamp(max=IMAGE)], 1),
                                labels=torch.tensor([0, 0, 1, 1, 2, 2])))
    metas = [dict(img_shape=(IMAGE, IMAGE), pad_shape=(IMAGE, IMAGE),
                  batch_input_shape=(IMAGE, IMAGE), scale_factor=(1.0, 1.0))] * 2
    return feats, gts, metas


def reference_samples(head, outs, gts, metas):
    """Flattened logits, labels, weights, IoUs and levels, by plain indexing."""
    cls_scores, bbox_preds = outs[0], outs[1]
    sizes = [c.shape[-2:] for c in cls_scores]
    anchor_list, valid = head.get_anchors(sizes, metas, device='cpu')
    anchors_per_image = [torch.cat(a) for a in anchor_list]
    targets = head.get_targets(copy.deepcopy(anchor_list), valid, gts, metas)
    if head.__class__.__name__.endswith('ATSSHead'):
        targets = targets[1:]
    labels = torch.cat(targets[0], 1)
    weights = torch.cat(targets[1], 1)
    bbox_targets = torch.cat(targets[2], 1)
    k, c = head.num_base_priors, head.num_classes
    logits, deltas, levels = [], [], []
    for level, (cls, reg) in enumerate(zip(cls_scores, bbox_preds)):
        n, _, h, w = cls.shape
        # mmdet's anchor order within a level: row, column, base anchor
        idx = [(y, x, a) for y in range(h) for x in range(w) for a in range(k)]
        logits.append(torch.stack([torch.stack([cls[:, a * c + j, y, x] for j in range(c)], 1)
                                   for (y, x, a) in idx], 1))
        deltas.append(torch.stack([reg[:, a * 4:(a + 1) * 4, y, x] for (y, x, a) in idx], 1))
        levels.append(torch.full((len(idx),), level))
    logits, deltas = torch.cat(logits, 1), torch.cat(deltas, 1)
    levels = torch.cat(levels).expand(labels.shape)
    ious = torch.zeros(labels.shape, dtype=logits.dtype)
    for i in range(labels.size(0)):
        for a in range(labels.size(1)):
            if 0 <= labels[i, a] < c and weights[i, a] > 0:
                anchor = anchors_per_image[i][a:a + 1]
                box = head.bbox_coder.decode(anchor, deltas[i, a:a + 1])[0]
                gt = bbox_targets[i, a] if head.reg_decoded_bbox else \
                    head.bbox_coder.decode(anchor, bbox_targets[i, a:a + 1])[0]
                ious[i, a] = plain_iou(box, gt)
    return logits, labels, weights, ious, levels


def plain_iou(a, b):
    iw = (torch.min(a[2], b[2]) - torch.max(a[0], b[0])).clamp(min=0)
    ih = (torch.min(a[3], b[3]) - torch.max(a[1], b[1])).clamp(min=0)
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def head_losses(head, outs, gts, metas):
    return head.loss_by_feat(*outs, gts, metas)


@pytest.mark.parametrize('name', ['RankRetinaHead', 'RankATSSHead'])
@pytest.mark.parametrize('seed', [0, 1])
def test_ranking_losses_match_plain_flattening(name, seed):
    _, head = build_pair(name, seed)
    feats, gts, metas = make_batch(head, seed)
    outs = head(feats)
    losses = head_losses(head, outs, gts, metas)
    logits, labels, weights, ious, levels = reference_samples(head, outs, gts, metas)
    positive = (labels < NUM_CLASSES) & (weights > 0)
    assert positive.sum() >= 6 and levels[positive].unique().numel() >= 2
    samples = ranking_samples(head, outs[0], outs[1],
                              level_targets(head, outs[0], gts, metas))
    torch.testing.assert_close(samples.logits, logits, rtol=0, atol=0)
    assert torch.equal(samples.labels, labels) and torch.equal(samples.weights, weights)
    assert torch.equal(samples.levels, levels)
    torch.testing.assert_close(samples.ious, ious, rtol=1e-5, atol=1e-6)
    expected = RankingLoss()(logits, labels, weights, ious=ious, levels=levels)
    assert set(expected) == {'loss_rank_global', 'loss_rank_class', 'loss_rank_iou'}
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=1e-6)
    # every positive's IoU is its decoded box against one of the image's GT boxes
    assert (ious[positive] > 0).all() and (ious[positive] <= 1).all()


@pytest.mark.parametrize('name', ['RankRetinaHead', 'RankATSSHead'])
def test_batch_scope_ranks_all_images_together(name):
    _, head = build_pair(name, 3)
    head.rank_scope = 'batch'
    feats, gts, metas = make_batch(head, 3)
    outs = head(feats)
    losses = head_losses(head, outs, gts, metas)
    logits, labels, weights, ious, levels = reference_samples(head, outs, gts, metas)
    expected = RankingLoss()(logits.reshape(1, -1, NUM_CLASSES), labels.reshape(1, -1),
                             weights.reshape(1, -1), ious=ious.reshape(1, -1),
                             levels=levels.reshape(1, -1))
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', ['RankRetinaHead', 'RankATSSHead'])
@pytest.mark.parametrize('seed', [0, 1])
def test_box_losses_are_the_baselines(name, seed):
    base, head = build_pair(name, seed)
    feats, gts, metas = make_batch(head, seed)
    base_losses = base.loss_by_feat(*base(feats), gts, metas)
    rank_losses = head_losses(head, head(feats), gts, metas)
    box_keys = {'loss_bbox', 'loss_centerness'} & set(base_losses)
    assert box_keys == ({'loss_bbox', 'loss_centerness'} if 'ATSS' in name else {'loss_bbox'})
    assert set(rank_losses) == box_keys | {'loss_rank_global', 'loss_rank_class',
                                           'loss_rank_iou'}
    for key in box_keys:
        assert len(rank_losses[key]) == len(STRIDES)
        for got, want in zip(rank_losses[key], base_losses[key]):
            torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize('name', ['RankRetinaHead', 'RankATSSHead'])
def test_focal_plus_iou_keeps_the_focal_loss(name):
    """Table 4 Exp. (4): loss_pointwise adds the baseline's focal loss, level by level."""
    base, _ = build_pair(name, 4)
    cfg = rank_cfg(name, use_global=False, use_class=False)
    cfg['loss_pointwise'] = BASELINES[name]['loss_cls']
    head = MODELS.build(cfg)
    head.load_state_dict(base.state_dict(), strict=True)
    feats, gts, metas = make_batch(head, 4)
    base_losses = base.loss_by_feat(*base(feats), gts, metas)
    losses = head_losses(head, head(feats), gts, metas)
    assert {'loss_cls', 'loss_rank_iou'} <= set(losses)
    assert not {'loss_rank_global', 'loss_rank_class'} & set(losses)
    for got, want in zip(losses['loss_cls'], base_losses['loss_cls']):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def branch_grads(head, loss):
    """Total |grad| of the classification and the regression branch's parameters."""
    cls_params = [p for n, p in head.named_parameters() if 'cls' in n]
    reg_params = [p for n, p in head.named_parameters() if 'reg' in n]
    assert cls_params and reg_params
    grads = torch.autograd.grad(loss, cls_params + reg_params, allow_unused=True)
    total = [sum(0.0 if g is None else g.abs().sum().item() for g in part)
             for part in (grads[:len(cls_params)], grads[len(cls_params):])]
    return total


@pytest.mark.parametrize('name', ['RankRetinaHead', 'RankATSSHead'])
@pytest.mark.parametrize('term,reaches_reg', [
    ('global', False), ('class', False), ('iou', True)])
def test_each_term_reaches_its_branches(name, term, reaches_reg):
    switches = {f'use_{t}': t == term for t in ('global', 'class', 'iou')}
    _, head = build_pair(name, 5, **switches)
    feats, gts, metas = make_batch(head, 5)
    losses = head_losses(head, head(feats), gts, metas)
    cls_grad, reg_grad = branch_grads(head, losses[f'loss_rank_{term}'])
    assert cls_grad > 0
    assert (reg_grad > 0) == reaches_reg


@pytest.mark.parametrize('name', ['RankRetinaHead', 'RankATSSHead'])
def test_frozen_ious_keep_the_regression_branch_out(name):
    """iou_bp='none' detaches both IoUs of a pair: the IoU term trains scores only."""
    _, head = build_pair(name, 6, use_global=False, use_class=False, iou_bp='none')
    feats, gts, metas = make_batch(head, 6)
    losses = head_losses(head, head(feats), gts, metas)
    cls_grad, reg_grad = branch_grads(head, losses['loss_rank_iou'])
    assert cls_grad > 0 and reg_grad == 0


@pytest.mark.parametrize('name', ['RankRetinaHead', 'RankATSSHead'])
def test_image_without_objects_trains(name):
    _, head = build_pair(name, 7)
    feats, gts, metas = make_batch(head, 7, empty_second=True)
    outs = head(feats)
    losses = head_losses(head, outs, gts, metas)
    logits, labels, weights, ious, levels = reference_samples(head, outs, gts, metas)
    expected = RankingLoss()(logits, labels, weights, ious=ious, levels=levels)
    for key, value in expected.items():  # the empty image adds nothing to the mean
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=1e-6)
    total = sum(v if torch.is_tensor(v) else sum(v) for v in losses.values())
    total.backward()
    assert torch.isfinite(total)

    # a batch of empty images only: zero ranking losses that still backpropagate
    empty = [gts[1], gts[1]]
    losses = head_losses(head, head(feats), empty, metas)
    for key in ('loss_rank_global', 'loss_rank_class', 'loss_rank_iou'):
        assert losses[key].item() == 0
    sum(v if torch.is_tensor(v) else sum(v) for v in losses.values()).backward()


@pytest.mark.parametrize('name', ['RankRetinaHead', 'RankATSSHead'])
def test_bad_head_configs_fail_clearly(name):
    focal = copy.deepcopy(BASELINES[name])
    focal['type'] = name
    with pytest.raises(TypeError, match="loss_cls must be dict\\(type='RankingLoss'"):
        MODELS.build(focal)
    with pytest.raises(ValueError, match='rank_scope'):
        MODELS.build(dict(rank_cfg(name), rank_scope='dataset'))
    with pytest.raises(ValueError, match='use_sigmoid'):
        MODELS.build(dict(rank_cfg(name), loss_pointwise=dict(
            type='CrossEntropyLoss', use_sigmoid=False)))


DEMO_PAIRS = [('configs2d/demo/retinanet_r18_fpn_demo_coco128.py',
               'configs2d/demo/rank-retinanet_r18_fpn_demo_coco128.py'),
              ('configs2d/demo/atss_r18_fpn_demo_coco128.py',
               'configs2d/demo/rank-atss_r18_fpn_demo_coco128.py')]


@pytest.mark.parametrize('base_cfg,rank_cfg_path', DEMO_PAIRS)
def test_baseline_checkpoint_loads_and_predicts_the_same(base_cfg, rank_cfg_path):
    """The paper's warm start: a focal detector's weights load into the ranking detector
    with no missing or unexpected key, and both predict the same boxes."""
    models = []
    for path in (base_cfg, rank_cfg_path):
        cfg = Config.fromfile(str(ROOT / path))
        # low threshold and few candidates: many detections to compare, quickly
        cfg.model.test_cfg.update(score_thr=0.0, nms_pre=8, max_per_img=50)
        models.append(MODELS.build(cfg.model).eval())
    base, rank = models
    torch.manual_seed(0)
    base.init_weights()
    result = rank.load_state_dict(base.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(rank.state_dict()) == set(base.state_dict())

    inputs = torch.randn(2, 3, 96, 128)
    samples = []
    for _ in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(96, 128), ori_shape=(96, 128),
                                        pad_shape=(96, 128), batch_input_shape=(96, 128),
                                        scale_factor=(1.0, 1.0)))
        samples.append(s)
    with torch.no_grad():
        got = rank.predict(inputs, copy.deepcopy(samples))
        want = base.predict(inputs, copy.deepcopy(samples))
    for g, w in zip(got, want):
        assert len(w.pred_instances) > 10
        for key in ('bboxes', 'scores', 'labels'):
            torch.testing.assert_close(g.pred_instances[key], w.pred_instances[key],
                                       rtol=0, atol=0)
