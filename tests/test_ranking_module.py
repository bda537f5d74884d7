"""RankingLoss, the registered mmdet module: configs, reduction, and values against the
brute-force references applied image by image."""
import pytest
import torch

pytest.importorskip('mmdet', reason='RankingLoss registers in mmdet; install mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import rankdet.models.losses  # noqa: E402,F401  registers RankingLoss
from rankdet.models.losses import RankingLoss  # noqa: E402
from test_ranking_reference import ref_class, ref_global, ref_iou  # noqa: E402

B, A, C = 3, 40, 4


def batch(seed=0):
    """float64 logits [B, A, C], targets [B, A], IoUs [B, A] and levels [B, A]; image 1
    has no positive."""
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(B, A, C, generator=gen, dtype=torch.float64).requires_grad_(True)
    kind = torch.rand(B, A, generator=gen)
    target = torch.full((B, A), C, dtype=torch.long)
    target[kind < 0.1] = -1
    fg = (kind > 0.7) & (torch.arange(B)[:, None] != 1)
    target[fg] = torch.randint(0, 2, (int(fg.sum()),), generator=gen)
    ious = torch.rand(B, A, generator=gen, dtype=torch.float64).requires_grad_(True)
    levels = torch.randint(0, 2, (B, A), generator=gen)
    return pred, target, ious, levels


def reference(pred, target, ious, levels, mining='group', rank_fn='exp', iou_bp='lower_detached',
              separate=True, class_reduction='sum', group_weighting='bin', score_space='prob'):
    """Per-term sums over images / images with positives, image by image, brute force."""
    totals = {'loss_rank_global': 0, 'loss_rank_class': 0, 'loss_rank_iou': 0}
    with_pos = 0
    for b in range(B):
        scores = pred[b].sigmoid() if score_space == 'prob' else pred[b]
        labels = target[b]
        pos = (labels >= 0) & (labels < C)
        with_pos += int(pos.any())
        totals['loss_rank_global'] += ref_global(scores, labels, rank_fn, mining, 3, 15,
                                                 group_weighting=group_weighting)
        totals['loss_rank_class'] += ref_class(scores, labels, rank_fn, mining, 3, 3,
                                               class_reduction=class_reduction,
                                               group_weighting=group_weighting)
        idx = pos.nonzero()[:, 0]
        lv = levels[b][idx] if separate else torch.zeros_like(idx)
        totals['loss_rank_iou'] += ref_iou(scores[idx, labels[idx]], ious[b][idx],
                                           labels[idx], lv, 1.0, rank_fn, iou_bp)
    return {name: value / max(with_pos, 1) for name, value in totals.items()}


def assert_losses_close(got, want, inputs):
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-9, atol=1e-12)
    got_grads = torch.autograd.grad(sum(got.values()), inputs, allow_unused=True)
    want_grads = torch.autograd.grad(sum(want.values()), inputs, allow_unused=True)
    for g, w, x in zip(got_grads, want_grads, inputs):
        torch.testing.assert_close(g, torch.zeros_like(x) if w is None else w,
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('mining', ['group', 'ohem'])
@pytest.mark.parametrize('rank_fn', ['exp', 'logistic'])
def test_module_matches_reference(mining, rank_fn):
    pred, target, ious, levels = batch()
    # an earlier test may leave mmdet3d as the default scope; configs name mmdet's scope
    with DefaultScope.overwrite_default_scope('mmdet'):
        loss = MODELS.build(dict(type='RankingLoss', mining=mining, rank_fn=rank_fn))
    got = loss(pred, target, ious=ious, levels=levels)
    assert_losses_close(got, reference(pred, target, ious, levels, mining, rank_fn),
                        (pred, ious))


@pytest.mark.parametrize('iou_bp', ['none', 'both'])
def test_table4_variants_are_configs(iou_bp):
    pred, target, ious, levels = batch(1)
    merged = RankingLoss(iou_bp=iou_bp, iou_levels='merge')(pred, target, ious=ious,
                                                            levels=levels)
    assert_losses_close(merged, reference(pred, target, ious, levels, iou_bp=iou_bp,
                                          separate=False), (pred, ious))
    only_iou = RankingLoss(use_global=False, use_class=False)(pred, target, ious=ious)
    assert set(only_iou) == {'loss_rank_iou'}
    no_iou = RankingLoss(use_iou=False)(pred, target)
    assert set(no_iou) == {'loss_rank_global', 'loss_rank_class'}


@pytest.mark.parametrize('switches', [
    dict(class_reduction='mean'), dict(group_weighting='size'),
    dict(group_weighting='size', mining='ohem'),
    dict(score_space='logit', rank_fn='logistic'),
    dict(score_space='logit', rank_fn='exp', mining='ohem', class_reduction='mean'),
    dict(score_space='logit', rank_fn='sigmoid', group_weighting='size')])
def test_extensions_match_reference(switches):
    """Every switch beyond the paper, through the registered module, against the image by
    image brute force (values and gradients, to the logits and to the IoUs)."""
    pred, target, ious, levels = batch(9)
    with DefaultScope.overwrite_default_scope('mmdet'):
        loss = MODELS.build(dict(type='RankingLoss', **switches))
    for name, value in switches.items():
        assert getattr(loss, name) == value
    got = loss(pred, target, ious=ious, levels=levels)
    assert_losses_close(got, reference(pred, target, ious, levels, **switches), (pred, ious))


def test_extension_defaults_are_the_papers():
    loss = RankingLoss()
    assert (loss.class_reduction, loss.group_weighting, loss.score_space) == \
        ('sum', 'bin', 'prob')
    assert (loss.rank_fn, loss.mining, loss.use_global, loss.use_class, loss.use_iou) == \
        ('exp', 'group', True, True, True)


def test_weights_scale_and_unweighted_pairs():
    pred, target, ious, levels = batch(2)
    full = RankingLoss()(pred, target, ious=ious, levels=levels)
    weighted = RankingLoss(loss_weight_global=2.0, loss_weight_class=0.5,
                           loss_weight_iou=0.0)(pred, target, ious=ious, levels=levels)
    for name, factor in [('loss_rank_global', 2.0), ('loss_rank_class', 0.5),
                         ('loss_rank_iou', 0.0)]:
        torch.testing.assert_close(weighted[name], factor * full[name])
    flat = RankingLoss(dynamic_reweight=False, mining='ohem')(pred, target, ious=ious)
    want = sum(ref_global(pred[b].sigmoid(), target[b], 'exp', 'ohem', reweight=False)
               for b in range(B)) / 2
    torch.testing.assert_close(flat['loss_rank_global'], want)


def test_label_weight_zero_means_ignored():
    pred, target, ious, levels = batch(3)
    weight = (torch.rand(B, A, generator=torch.Generator().manual_seed(0)) > 0.2).double()
    ignored = torch.where(weight > 0, target, torch.full_like(target, -1))
    loss = RankingLoss()
    with_weight = loss(pred, target, weight=weight, ious=ious, levels=levels)
    with_labels = loss(pred, ignored, ious=ious, levels=levels)
    for name in with_weight:
        torch.testing.assert_close(with_weight[name], with_labels[name])


def test_reductions_and_avg_factor():
    pred, target, ious, levels = batch(4)
    loss = RankingLoss()
    per_image = loss(pred, target, ious=ious, levels=levels, reduction_override='none')
    assert all(v.shape == (B,) for v in per_image.values())
    assert all(v[1].item() == 0 for v in per_image.values())  # image 1 has no positive
    summed = loss(pred, target, ious=ious, levels=levels, reduction_override='sum')
    mean = loss(pred, target, ious=ious, levels=levels)
    given = loss(pred, target, ious=ious, levels=levels, avg_factor=4.0)
    assert RankingLoss.num_images_with_positives(target, C).item() == 2
    for name in per_image:
        torch.testing.assert_close(summed[name], per_image[name].sum())
        torch.testing.assert_close(mean[name], per_image[name].sum() / 2)
        torch.testing.assert_close(given[name], per_image[name].sum() / 4, rtol=1e-6,
                                   atol=0)
    with pytest.raises(ValueError, match='avg_factor'):
        loss(pred, target, ious=ious, avg_factor=2.0, reduction_override='sum')


def test_no_positives_still_backpropagates():
    pred, _, ious, levels = batch(5)
    background = torch.full((B, A), C, dtype=torch.long)
    for mining in ['group', 'ohem']:
        losses = RankingLoss(mining=mining)(pred, background, ious=ious, levels=levels)
        assert all(v.item() == 0 for v in losses.values())
        grad_pred, grad_ious = torch.autograd.grad(sum(losses.values()), (pred, ious))
        assert torch.all(grad_pred == 0) and torch.all(grad_ious == 0)
    # an image without positives gets no gradient, the others do
    pred, target, ious, levels = batch(6)
    losses = RankingLoss()(pred, target, ious=ious, levels=levels)
    grad_pred, = torch.autograd.grad(sum(losses.values()), (pred,))
    assert torch.all(grad_pred[1] == 0) and torch.any(grad_pred[0] != 0)


def test_half_precision_is_computed_in_float32():
    pred, target, ious, levels = batch(7)
    half = RankingLoss()(pred.detach().half(), target, ious=ious.detach().half(),
                         levels=levels)
    full = RankingLoss()(pred.detach().half().float(), target,
                         ious=ious.detach().half().float(), levels=levels)
    for name in full:
        assert half[name].dtype == torch.float32
        torch.testing.assert_close(half[name], full[name])


def test_invalid_inputs_and_configs_raise():
    pred, target, ious, levels = batch(8)
    loss = RankingLoss()
    with pytest.raises(ValueError, match='ious .* is required'):
        loss(pred, target)
    bad = pred.detach().clone()
    bad[0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='pred contains NaN'):
        loss(bad, target, ious=ious)
    bad[0, 0, 0] = float('inf')
    with pytest.raises(ValueError, match='pred must be finite'):
        loss(bad, target, ious=ious)
    with pytest.raises(ValueError, match='pred must have shape'):
        loss(pred[0], target, ious=ious)
    with pytest.raises(ValueError, match='target must have shape'):
        loss(pred, target[:, :-1], ious=ious)
    with pytest.raises(ValueError, match='target must hold'):
        loss(pred, target + 2, ious=ious)
    with pytest.raises(ValueError, match='ious must have shape'):
        loss(pred, target, ious=ious[0])
    with pytest.raises(ValueError, match='ious'):
        loss(pred, target, ious=ious + 1)
    with pytest.raises(ValueError, match='weight must have shape'):
        loss(pred, target, weight=torch.ones(B, A, C), ious=ious)
    with pytest.raises(ValueError, match='reduction'):
        loss(pred, target, ious=ious, reduction_override='max')
    for kwargs, match in [(dict(mining='random'), 'mining'), (dict(rank_fn='hinge'), 'rank_fn'),
                          (dict(iou_bp='higher'), 'iou_bp'), (dict(iou_levels='all'),
                                                              'iou_levels'),
                          (dict(use_global=False, use_class=False, use_iou=False), 'enable'),
                          (dict(loss_weight_iou=-1), 'loss_weight_iou'),
                          (dict(alpha=0), 'alpha'), (dict(class_groups=0), 'groups'),
                          (dict(ohem_ratio=0), 'ratio'), (dict(reduction='avg'), 'reduction'),
                          (dict(class_reduction='max'), 'class_reduction'),
                          (dict(group_weighting='count'), 'group_weighting'),
                          (dict(score_space='probability'), 'score_space')]:
        with pytest.raises(ValueError, match=match):
            RankingLoss(**kwargs)


def test_both_registries_build_the_one_class_by_one_name():
    """2D configs (mmdet scope) and 3D configs (mmdet3d scope) both say
    type='RankingLoss'; the 3D configs' former 'mmdet.RankingLoss' still builds."""
    pytest.importorskip('mmdet3d')
    from mmdet3d.registry import MODELS as MODELS3D

    from rankdet.models.common import RankingLoss as CommonRankingLoss
    assert RankingLoss is CommonRankingLoss
    for scope, registry, name in [('mmdet', MODELS, 'RankingLoss'),
                                  ('mmdet3d', MODELS3D, 'RankingLoss'),
                                  ('mmdet3d', MODELS3D, 'mmdet.RankingLoss')]:
        with DefaultScope.overwrite_default_scope(scope):
            loss = registry.build(dict(type=name, mining='ohem'))
        assert type(loss) is RankingLoss and loss.mining == 'ohem', (scope, name)


def test_reduced_divisor_is_the_count_without_a_process_group():
    from rankdet.models.common import (num_images_with_positives,
                                       reduced_num_images_with_positives)
    pred, target, _, _ = batch()
    weight = torch.ones(B, A)
    weight[0] = 0  # image 0's anchors all ignored: it has no positive left
    assert num_images_with_positives(target, C).item() == 2
    assert num_images_with_positives(target, C, weight).item() == 1
    assert reduced_num_images_with_positives(target, C, weight).item() == 1
    assert RankingLoss.num_images_with_positives(target, C, weight).item() == 1
