"""Ranking + point-wise focal loss together (configs2d/retinanet/
rank-focal-retinanet_r50_fpn_1x_coco.py): the head keeps the baseline's focal loss as
``loss_cls`` beside all three ranking terms, and the two are independent: the combined
gradient is the focal baseline's gradient plus the ranking-only head's gradient.

The head is the config's own (anchors, coder, losses, assigner), narrowed to 8 channels
so that it runs on CPU in a second; the references are the focal baseline head
(RetinaHead) and the ranking head without ``loss_pointwise``, with the same weights.
"""
import copy
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

import rankdet.registration  # noqa: E402,F401  registers the heads, the loss
from mmdet.registry import MODELS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

register_all_modules(init_default_scope=True)
DEFAULT_SCOPE = 'mmdet'  # every test builds in mmdet's scope (conftest.py)

CONFIG = (Path(__file__).resolve().parents[1] / 'configs2d' / 'retinanet'
          / 'rank-focal-retinanet_r50_fpn_1x_coco.py')
RANK_TERMS = {'loss_rank_global', 'loss_rank_class', 'loss_rank_iou'}
IMAGE = 128


def head_cfgs():
    """(rank + focal, ranking only, focal baseline) head configs from the config file."""
    cfg = Config.fromfile(str(CONFIG))
    head = cfg.model.bbox_head.to_dict()
    head.update(in_channels=8, feat_channels=8, stacked_convs=1, num_classes=3,
                train_cfg=cfg.model.train_cfg.to_dict(), test_cfg=cfg.model.test_cfg.to_dict())
    ranking_only = {k: v for k, v in head.items() if k != 'loss_pointwise'}
    baseline = dict(ranking_only, type='RetinaHead', loss_cls=head['loss_pointwise'])
    return head, ranking_only, baseline


def build(cfg, state=None):
    # an earlier test may leave mmdet3d as the default scope; the heads are mmdet's
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(copy.deepcopy(cfg))
    if state is None:
        torch.manual_seed(0)
        head.init_weights()
        with torch.no_grad():  # spread the scores, so that pairs are not all ties
            for p in head.parameters():
                p.add_(0.05 * torch.randn_like(p))
    else:
        head.load_state_dict(state, strict=True)
    return head


def batch(head):
    gen = torch.Generator().manual_seed(1)
    strides = head.prior_generator.strides
    feats = [torch.randn(2, 8, IMAGE // s[0], IMAGE // s[1], generator=gen) for s in strides]
    gts = []
    for _ in range(2):
        xy = torch.rand(6, 2, generator=gen) * 60
        wh = torch.tensor([[30., 34], [36, 28], [70, 64], [60, 66], [32, 32], [66, 58]])
        gts.append(InstanceData(bboxes=torch.cat([xy, (xy + wh).clamp(max=IMAGE)], 1),
                                labels=torch.tensor([0, 0, 1, 1, 2, 2])))
    metas = [dict(img_shape=(IMAGE, IMAGE), pad_shape=(IMAGE, IMAGE),
                  batch_input_shape=(IMAGE, IMAGE), scale_factor=(1.0, 1.0))] * 2
    return feats, gts, metas


def cls_grads(head, loss):
    params = [p for n, p in head.named_parameters() if 'cls' in n or 'reg' in n]
    return torch.autograd.grad(loss, params, allow_unused=True)


def total(values):
    return sum(v if torch.is_tensor(v) else sum(v) for v in values)


def test_config_is_rank_plus_focal():
    cfg = Config.fromfile(str(CONFIG))
    head = cfg.model.bbox_head
    assert head.type == 'RankRetinaHead' and head.loss_cls.to_dict() == dict(type='RankingLoss')
    focal = head.loss_pointwise
    assert (focal.type, focal.use_sigmoid, focal.gamma, focal.alpha, focal.loss_weight) == \
        ('FocalLoss', True, 2.0, 0.25, 1.0)
    assert cfg.load_from == 'work_dirs/retinanet_r50_fpn_1x_coco/epoch_12.pth'


def test_losses_and_gradient_are_the_sum_of_the_two():
    combined_cfg, ranking_cfg, baseline_cfg = head_cfgs()
    combined = build(combined_cfg)
    assert type(combined.loss_cls).__name__ == 'FocalLoss'
    rank = combined.loss_rank
    assert (rank.use_global, rank.use_class, rank.use_iou) == (True, True, True)
    state = combined.state_dict()
    ranking, baseline = build(ranking_cfg, state), build(baseline_cfg, state)
    feats, gts, metas = batch(combined)

    losses = combined.loss_by_feat(*combined(feats), gts, metas)
    assert set(losses) == {'loss_cls', 'loss_bbox'} | RANK_TERMS
    base_losses = baseline.loss_by_feat(*baseline(feats), gts, metas)
    rank_losses = ranking.loss_by_feat(*ranking(feats), gts, metas)
    assert set(rank_losses) == {'loss_bbox'} | RANK_TERMS
    for got, want in zip(losses['loss_cls'], base_losses['loss_cls']):  # focal, per level
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    for key in RANK_TERMS:
        torch.testing.assert_close(losses[key], rank_losses[key], rtol=0, atol=0)
        assert losses[key].item() > 0

    # classification: focal + ranking; the box loss counted once
    got = cls_grads(combined, total(losses.values()))
    focal = cls_grads(baseline, total(base_losses['loss_cls']))
    ranked = cls_grads(ranking, total(rank_losses.values()))
    for g, f, r in zip(got, focal, ranked):
        f = torch.zeros_like(g) if f is None else f
        r = torch.zeros_like(g) if r is None else r
        torch.testing.assert_close(g, f + r, rtol=1e-5, atol=1e-7)
    assert any(f is not None and f.abs().sum() > 0 for f in focal)
