"""RankingHealthHook's statistics (rankdet.engine.ranking_health) against direct
computations: the confidence statistics against loops over anchors, and the flat value
of every ranking term against RankingLoss itself evaluated with all scores equal (what
"flat" means), for every switch that changes it. Seconds on the CPU."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

from rankdet.engine.ranking_health import (flat_term_values, rank_flat_value,  # noqa: E402
                                           score_counts, score_statistics, term_deviation)
from rankdet.models.losses import RankingLoss  # noqa: E402

C = 4  # classes; label C is the background


def random_problem(seed, num_images=3, num_anchors=60):
    """Logits [B, A, C], labels [B, A] (-1 ignored, C background) and label weights."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_images, num_anchors, C, generator=g) * 3
    labels = torch.randint(-1, C + 1, (num_images, num_anchors), generator=g)
    labels[:, : num_anchors // 2] = C  # mostly background, as in a detector
    weights = (torch.rand(num_images, num_anchors, generator=g) > 0.1).float()
    return logits, labels, weights


def direct_statistics(logits, labels, weights, threshold):
    """The two statistics anchor by anchor, in plain Python."""
    pos, bg, above = [], 0, 0
    for b in range(labels.shape[0]):
        for a in range(labels.shape[1]):
            label, weight = int(labels[b, a]), float(weights[b, a])
            if label < 0 or weight <= 0:
                continue
            scores = [1 / (1 + math.exp(-float(x))) for x in logits[b, a]]
            if label < C:
                pos.append(scores[label])
            else:
                bg += 1
                above += max(scores) > threshold
    return sum(pos) / len(pos), above / bg


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('threshold', [0.2, 0.5])
def test_score_statistics_match_a_direct_computation(seed, threshold):
    logits, labels, weights = random_problem(seed)
    expected_pos, expected_bg = direct_statistics(logits, labels, weights, threshold)
    stats = score_statistics(score_counts(logits, labels, weights, threshold))
    assert stats['pos_score_mean'] == pytest.approx(expected_pos, rel=1e-6)
    assert stats['bg_above'] == pytest.approx(expected_bg, rel=1e-12)
    # a focal head's level-by-level calls on [M, C] add up to the same numbers
    counts = sum(score_counts(logits[b], labels[b], weights[b], threshold)
                 for b in range(labels.shape[0]))
    assert score_statistics(counts) == pytest.approx(stats)
    # per-class label weights (some heads) ignore an anchor whose weights are all 0
    per_class = weights[..., None].expand(-1, -1, C)
    assert score_statistics(score_counts(logits, labels, per_class, threshold)) \
        == pytest.approx(stats)


def test_score_statistics_leave_out_what_has_no_anchors():
    logits = torch.zeros(1, 3, C)
    assert score_statistics(score_counts(logits, torch.tensor([[C, C, -1]]))) == {
        'bg_above': 1.0}  # sigmoid(0) = 0.5 > 0.2
    assert score_statistics(score_counts(logits, torch.tensor([[0, 1, -1]]))) == {
        'pos_score_mean': 0.5}
    with pytest.raises(ValueError, match='labels must have the shape'):
        score_counts(logits, torch.zeros(1, 4, dtype=torch.long))


def flat_case_labels():
    """Images that make the flat value differ from L_rank(0) in each way it can."""
    labels = torch.full((5, 12), C)
    labels[0, :6] = torch.tensor([0, 0, 1, 1, 2, 3])  # four classes, IoU pairs in 0 and 1
    labels[1, :1] = 2                                   # one positive: no IoU pair
    labels[2, :3] = torch.tensor([1, -1, 1])            # one class, one ignored anchor
    # image 3: background only, no positive
    labels[4, :4] = torch.tensor([3, 3, 0, 0])          # pairs only across levels
    levels = torch.zeros(5, 12, dtype=torch.long)
    levels[:, 1::2] = 1
    levels[0, :6] = torch.tensor([0, 0, 1, 1, 0, 1])  # class 0 on level 0, 1 on level 1
    levels[4, :4] = torch.tensor([0, 1, 0, 1])
    return labels, levels


LOSS_SETTINGS = [
    dict(),
    dict(class_reduction='mean'),
    dict(iou_levels='merge', mining='ohem'),
    dict(rank_fn='sigmoid', loss_weight_class=0.5, loss_weight_iou=2.0),
    dict(rank_fn='logistic', score_space='logit', mining='none'),
    dict(use_global=False, group_weighting='size'),
    dict(use_iou=False, dynamic_reweight=False),
    dict(reduction='sum'),
    dict(reduction='none'),
]


# a given avg_factor (a head's divisor) goes with the mean reduction only
FLAT_CASES = [(settings, avg_factor) for settings in LOSS_SETTINGS for avg_factor in (None, 3.0)
              if avg_factor is None or settings.get('reduction', 'mean') == 'mean']


@pytest.mark.parametrize('settings, avg_factor', FLAT_CASES,
                         ids=lambda v: (str(v) or 'defaults') if isinstance(v, dict) else str(v))
@pytest.mark.parametrize('score', [0.0, -30.0])
def test_flat_values_are_the_loss_with_all_scores_equal(settings, avg_factor, score):
    """RankingLoss on equal logits is the definition of the flat value; -30 is a
    saturated detector (sigmoid 1e-13), where the trap occurs."""
    loss = RankingLoss(**settings)
    labels, levels = flat_case_labels()
    weights = (labels >= 0).float()
    ious = torch.rand(labels.shape, generator=torch.Generator().manual_seed(0))
    pred = torch.full((*labels.shape, C), score)
    value = loss(pred, labels.clamp(min=0).masked_fill(labels < 0, C), weights,
                 avg_factor=avg_factor, ious=ious, levels=levels)
    flat = flat_term_values(loss, labels.clamp(min=0).masked_fill(labels < 0, C), weights,
                            levels=levels, avg_factor=avg_factor, num_classes=C)
    assert sorted(flat) == sorted(value)
    for name in value:
        torch.testing.assert_close(flat[name], value[name].double(), rtol=1e-6, atol=1e-7,
                                   msg=name)
    assert float(term_deviation(value, flat)) < 1e-6
    # and the flat value is not a constant: several classes add up (Eq. 4's sum), an
    # image without an IoU pair adds 0
    per_image = flat_term_values(loss, labels, levels=levels, num_classes=C,
                                 reduction_override='none')
    if 'loss_rank_class' in per_image and loss.class_reduction == 'sum':
        assert per_image['loss_rank_class'][0] == 4 * loss.loss_weight_class * \
            rank_flat_value(loss.rank_fn)
    if 'loss_rank_iou' in per_image:
        assert per_image['loss_rank_iou'][0] > 0 and per_image['loss_rank_iou'][1] == 0
        assert (per_image['loss_rank_iou'][4] > 0) == (loss.iou_levels == 'merge')


def test_flat_value_is_l_rank_of_zero():
    assert rank_flat_value('exp') == 1.0
    assert rank_flat_value('sigmoid') == 0.5
    assert rank_flat_value('logistic') == pytest.approx(math.log(2))


def test_a_ranking_loss_away_from_flat_deviates():
    loss = RankingLoss()
    logits, labels, weights = random_problem(3)
    ious = torch.rand(labels.shape, generator=torch.Generator().manual_seed(1))
    value = loss(logits, labels.clamp(min=0), weights, ious=ious)
    flat = flat_term_values(loss, labels.clamp(min=0), weights, num_classes=C)
    assert float(term_deviation(value, flat)) > 0.01
    assert float(term_deviation({}, flat)) == math.inf  # a term missing is not flat


@pytest.mark.parametrize('kwargs, match', [
    (dict(saturation_iters=0), 'saturation_iters'),
    (dict(flat_tol=-1), 'flat_tol'),
    (dict(bg_threshold=1.0), 'bg_threshold'),
    (dict(interval=0), 'interval'),
    (dict(head=''), 'head'),
])
def test_hook_rejects_bad_arguments(kwargs, match):
    from rankdet.engine import RankingHealthHook

    with pytest.raises(ValueError, match=match):
        RankingHealthHook(**kwargs)


def test_hook_is_found_from_mmdet_and_mmdet3d_scopes():
    from mmdet.registry import HOOKS as MMDET_HOOKS
    from mmengine.registry import DefaultScope

    from rankdet.engine import RankingHealthHook

    scopes = [('mmdet', MMDET_HOOKS)]
    if importlib.util.find_spec('mmdet3d') is not None:
        from mmdet3d.registry import HOOKS as MMDET3D_HOOKS
        scopes.append(('mmdet3d', MMDET3D_HOOKS))
    for scope, registry in scopes:
        with DefaultScope.overwrite_default_scope(scope):
            hook = registry.build(dict(type='RankingHealthHook', saturation_iters=7))
        assert isinstance(hook, RankingHealthHook) and hook.saturation_iters == 7


ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / 'configs2d').glob('*/*.py')) + sorted((ROOT / 'configs3d').glob('*.py'))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: f'{p.parent.name}/{p.name}')
def test_every_config_logs_to_tensorboard_and_every_ranking_config_monitors(path):
    """Issue 14 (TensorBoard beside the local files) and issue 13 (the health monitor on
    in every ranking run), pinned config by config."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(path))
    if 'model' not in cfg:  # a _base_ fragment
        return
    backends = [b['type'] for b in cfg.visualizer.vis_backends]
    assert 'LocalVisBackend' in backends and 'TensorboardVisBackend' in backends, backends
    head = cfg.model.bbox_head.type
    hooks = [h['type'] for h in cfg.get('custom_hooks') or []]
    assert ('RankingHealthHook' in hooks) == head.startswith('Rank'), (head, hooks)
