"""Reverse-pair ratios (Table 3) against a brute-force count, and ranking losses lowering
them on a fixed toy problem."""
import pytest
import torch

from apps.toy.toy_problem import (make_toy_problem, make_toy_scorer, ranking_toy_loss,
                                  toy_ratios, train_toy_scorer)
from rankdet.ranking import reverse_pair_counts, reverse_pair_ratios
from test_ranking_reference import ref_reverse_pairs

NUM_CLASSES = 3


def random_image(seed, num_anchors=60, quantise=False):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(num_anchors, NUM_CLASSES, generator=gen, dtype=torch.float64)
    if quantise:  # many ties in confidence and IoU
        scores = (scores * 4).round() / 4
    kind = torch.rand(num_anchors, generator=gen)
    labels = torch.full((num_anchors,), NUM_CLASSES, dtype=torch.long)
    labels[kind < 0.1] = -1
    fg = kind > 0.6
    labels[fg] = torch.randint(0, NUM_CLASSES, (int(fg.sum()),), generator=gen)
    ious = torch.rand(num_anchors, generator=gen, dtype=torch.float64)
    if quantise:
        ious = (ious * 3).round() / 3
    return scores, labels, ious


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('quantise', [False, True])
def test_counts_match_reference(seed, quantise):
    scores, labels, ious = random_image(seed, quantise=quantise)
    counts = reverse_pair_counts(scores, labels, ious=ious)
    expected = ref_reverse_pairs(scores, labels, ious)
    assert set(counts) == {'F-B', 'P-N', 'P-P'}
    for name, (reverse, total) in counts.items():
        assert (reverse.item(), total.item()) == pytest.approx(expected[name])
        assert 0 < total.item()


def test_batch_pools_the_images():
    images = [random_image(seed) for seed in (3, 4)]
    scores = torch.stack([s for s, _, _ in images])
    labels = torch.stack([l for _, l, _ in images])
    ious = torch.stack([i for _, _, i in images])
    pooled = reverse_pair_counts(scores, labels, ious=ious)
    singles = [ref_reverse_pairs(s, l, i) for s, l, i in images]
    for name in pooled:
        want = tuple(sum(single[name][k] for single in singles) for k in range(2))
        assert tuple(v.item() for v in pooled[name]) == pytest.approx(want)
    ratios = reverse_pair_ratios(scores, labels, ious=ious)
    assert ratios['F-B'] == pytest.approx(pooled['F-B'][0].item() / pooled['F-B'][1].item())


def test_levels_restrict_pp_pairs_and_logits():
    scores = torch.tensor([[0.9], [0.2], [0.5], [0.1]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1])
    ious = torch.tensor([0.3, 0.8, 0.5, 0.0], dtype=torch.float64)
    levels = torch.tensor([0, 0, 1, 0])
    # pooled: (0.8 > 0.3, conf 0.2 < 0.9) reversed, (0.8 > 0.5, 0.2 < 0.5) reversed,
    # (0.5 > 0.3, 0.5 < 0.9) reversed: 3 of 3; on level 0 only the first pair
    assert reverse_pair_ratios(scores, labels, ious=ious)['P-P'] == 1.0
    assert reverse_pair_counts(scores, labels, ious=ious, levels=levels)['P-P'][1].item() == 1
    ratios = reverse_pair_ratios(torch.logit(scores), labels, ious=ious, from_logits=True)
    assert ratios == pytest.approx(reverse_pair_ratios(scores, labels, ious=ious))
    # F-B: fg 0.9, 0.2, 0.5 vs bg 0.1: none reversed; P-N class 0 vs the bg: none
    assert ratios['F-B'] == 0.0 and ratios['P-N'] == 0.0
    no_ious = reverse_pair_ratios(scores, labels)
    assert 'P-P' not in no_ious


def test_constant_scorer_has_ratio_one_half():
    scores, labels, ious = random_image(5)
    ratios = reverse_pair_ratios(torch.full_like(scores, 0.3), labels, ious=ious)
    assert ratios == pytest.approx({'F-B': 0.5, 'P-N': 0.5, 'P-P': 0.5})


def test_invalid_inputs_raise():
    scores, labels, ious = random_image(6)
    with pytest.raises(ValueError, match='cls_scores'):
        reverse_pair_ratios(scores + 1, labels)
    with pytest.raises(ValueError, match='ious'):
        reverse_pair_ratios(scores, labels, ious=ious[:-1])
    with pytest.raises(ValueError, match='ious'):
        reverse_pair_ratios(scores, labels, ious=ious * float('nan'))


@pytest.fixture
def one_thread():
    """The toy tensors are small: a second thread only adds contention on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures('one_thread')
@pytest.mark.parametrize('mining', ['group', 'ohem'])
def test_ranking_losses_lower_reverse_pairs_on_toy_problem(mining):
    """A scorer trained with the three ranking losses ends with fewer reverse pairs of
    every type than it started with (Table 3's claim, on a fixed toy problem)."""
    problem = make_toy_problem(seed=0)
    scorer = make_toy_scorer(problem, seed=0)
    before = toy_ratios(scorer, problem)
    train_toy_scorer(scorer, problem,
                     lambda logits, p: ranking_toy_loss(logits, p, mining=mining))
    after = toy_ratios(scorer, problem)
    for name in ('F-B', 'P-N', 'P-P'):
        assert after[name] < before[name] - 0.1, (name, before, after)
