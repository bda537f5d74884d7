"""The switches beyond the paper against brute-force references: class-specific sum/mean
(Eq. 4), group weighting by size, ranking in logit space, and the flat value L_rank(0).

The references are the loops of test_ranking_reference.py: one class, one negative, one
pair at a time, with autograd through scalar tensor ops. Size weighting is checked two
ways: against the bin means repeated ``count`` times (its definition), and against a
double loop with explicit weights.
"""
import math

import pytest
import torch

from rankdet.ranking import (CLASS_REDUCTIONS, GROUP_WEIGHTINGS, SCORE_SPACES,
                             class_ranking_loss, flat_value, global_ranking_loss,
                             iou_ranking_loss, mine_negatives, pairwise_rank_loss)
from rankdet.ranking.mining import batched_mine_negatives
from rankdet.ranking.pairwise import batched_pairwise_rank_loss
from test_ranking_reference import ref_class, ref_global, ref_iou, ref_mine, ref_pairwise

RANK_FNS = ['exp', 'sigmoid', 'logistic']
NUM_CLASSES = 5


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)


def grads(loss, inputs):
    return torch.autograd.grad(loss, inputs, allow_unused=True, retain_graph=True)


def random_image(seed, num_anchors=60, logits=False):
    """float64 scores [A, C] (probabilities, or logits in [-6, 6]) and labels [A]: about
    a third foreground of four classes, some ignored, the rest background."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(num_anchors, NUM_CLASSES, generator=gen, dtype=torch.float64)
    if logits:
        scores = 12 * scores - 6
    kind = torch.rand(num_anchors, generator=gen)
    labels = torch.full((num_anchors,), NUM_CLASSES, dtype=torch.long)
    labels[kind < 0.1] = -1
    fg = kind > 0.65
    labels[fg] = torch.randint(0, NUM_CLASSES - 1, (int(fg.sum()),), generator=gen)
    return scores.requires_grad_(True), labels


def check(loss, expected, inputs):
    assert_close(loss, expected)
    for got, want, x in zip(grads(loss, inputs), grads(expected, inputs), inputs):
        assert_close(got, torch.zeros_like(x) if want is None else want)


def test_defaults_are_the_papers():
    assert CLASS_REDUCTIONS[0] == 'sum' and GROUP_WEIGHTINGS[0] == 'bin'
    assert SCORE_SPACES[0] == 'prob'
    scores, labels = random_image(0)
    assert_close(class_ranking_loss(scores, labels), ref_class(scores, labels))
    assert_close(class_ranking_loss(scores, labels),
                 class_ranking_loss(scores, labels, class_reduction='sum',
                                    group_weighting='bin', score_space='prob'))


# --- class-specific loss: Eq. (4)'s sum over classes, the mean as a switch ----------------

@pytest.mark.parametrize('class_reduction', ['sum', 'mean'])
@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('mining', ['group', 'ohem', 'none'])
def test_class_reduction_matches_double_loop(class_reduction, rank_fn, mining):
    scores, labels = random_image(1)
    assert len(set(labels[(labels >= 0) & (labels < NUM_CLASSES)].tolist())) >= 3
    loss = class_ranking_loss(scores, labels, rank_fn=rank_fn, mining=mining,
                              class_reduction=class_reduction)
    expected = ref_class(scores, labels, rank_fn, mining, class_reduction=class_reduction)
    check(loss, expected, (scores,))


def test_sum_is_mean_times_contributing_classes():
    """In a batch: each image's sum = its mean x its classes that have pairs."""
    images = [random_image(seed) for seed in (2, 3, 4)]
    scores = torch.stack([s.detach() for s, _ in images]).requires_grad_(True)
    labels = torch.stack([lab for _, lab in images])
    labels[1, labels[1] < NUM_CLASSES] = NUM_CLASSES  # no positive
    labels[2, (labels[2] >= 0) & (labels[2] < NUM_CLASSES)] = 0  # one class
    total = class_ranking_loss(scores, labels, class_reduction='sum')
    mean = class_ranking_loss(scores, labels, class_reduction='mean')
    for b in range(3):
        classes = len(set(labels[b][(labels[b] >= 0) & (labels[b] < NUM_CLASSES)].tolist()))
        assert_close(total[b], mean[b] * classes)
        assert_close(total[b], ref_class(scores[b], labels[b]))
    assert total[1].item() == 0 and total[2].item() == mean[2].item() != 0


# --- group weighting by size --------------------------------------------------------------

@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('reweight', [True, False])
def test_weighted_pairwise_equals_copies_and_double_loop(rank_fn, reweight):
    gen = torch.Generator().manual_seed(5)
    pos = torch.rand(6, generator=gen, dtype=torch.float64).requires_grad_(True)
    neg = torch.rand(5, generator=gen, dtype=torch.float64).requires_grad_(True)
    counts = [3, 1, 7, 2, 1]
    loss = pairwise_rank_loss(pos, neg, rank_fn, reweight,
                              neg_weight=torch.tensor(counts, dtype=torch.float64))
    copies = ref_pairwise(list(pos), [n for n, c in zip(neg, counts) for _ in range(c)],
                          rank_fn, reweight)
    check(loss, copies, (pos, neg))
    check(loss, ref_pairwise(list(pos), list(neg), rank_fn, reweight, weights=counts),
          (pos, neg))


@pytest.mark.parametrize('rank_fn', RANK_FNS)
def test_batched_weights_leave_padding_and_empty_rows_alone(rank_fn):
    """Problems of a batch with weights: each equals its own weighted loss; a row without
    pairs is 0 with a zero (finite) gradient whatever its padded weights."""
    gen = torch.Generator().manual_seed(6)
    pos = torch.rand(3, 4, generator=gen, dtype=torch.float64).requires_grad_(True)
    neg = torch.rand(3, 5, generator=gen, dtype=torch.float64).requires_grad_(True)
    pos_mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    neg_mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 1, 0, 1], [1, 1, 0, 0, 0]],
                            dtype=torch.bool)
    weight = torch.tensor([[2., 5., 1., 0., 0.], [4., 0., 3., 0., 1.], [0., 0., 0., 0., 0.]],
                          dtype=torch.float64)
    loss = batched_pairwise_rank_loss(pos, pos_mask, neg, neg_mask, rank_fn,
                                      neg_weight=weight)
    for k in range(2):
        expected = ref_pairwise(list(pos[k][pos_mask[k]]), list(neg[k][neg_mask[k]]),
                                rank_fn, weights=weight[k][neg_mask[k]].tolist())
        assert_close(loss[k], expected)
    assert loss[2].item() == 0
    grad_pos, grad_neg = grads(loss.sum(), (pos, neg))
    assert torch.isfinite(grad_pos).all() and torch.isfinite(grad_neg).all()
    assert torch.all(grad_pos[~pos_mask] == 0) and torch.all(grad_neg[~neg_mask] == 0)


@pytest.mark.parametrize('mode', ['group', 'ohem', 'none'])
def test_mined_counts(mode):
    gen = torch.Generator().manual_seed(7)
    neg = torch.rand(40, generator=gen, dtype=torch.float64)
    mined, counts = mine_negatives(neg, 3, mode, ratio=2, num_groups=6, with_counts=True)
    want, want_counts = ref_mine(list(neg), 3, mode, ratio=2, num_groups=6, with_counts=True)
    assert_close(mined, torch.stack(want))
    assert counts.tolist() == want_counts
    assert int(counts.sum()) == (40 if mode != 'ohem' else 6)


@pytest.mark.parametrize('fn, ref', [(global_ranking_loss, ref_global),
                                     (class_ranking_loss, ref_class)])
@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('reweight', [True, False])
def test_size_weighting_equals_repeated_bin_means(fn, ref, rank_fn, reweight):
    scores, labels = random_image(8, num_anchors=90)
    groups = 5 if fn is global_ranking_loss else 3
    loss = fn(scores, labels, rank_fn=rank_fn, mining='group', num_groups=groups,
              reweight=reweight, group_weighting='size')
    expected = ref(scores, labels, rank_fn, 'group', 3, groups, reweight,
                   group_weighting='size')
    check(loss, expected, (scores,))
    # the weighting matters: bins of different sizes give another loss than 'bin'
    other = fn(scores, labels, rank_fn=rank_fn, mining='group', num_groups=groups,
               reweight=reweight)
    assert (loss - other).abs().item() > 1e-6


@pytest.mark.parametrize('fn', [global_ranking_loss, class_ranking_loss])
@pytest.mark.parametrize('mining', ['ohem', 'none'])
def test_size_weighting_changes_nothing_without_groups(fn, mining):
    scores, labels = random_image(9)
    size = fn(scores, labels, mining=mining, group_weighting='size', rank_fn='logistic')
    check(size, fn(scores, labels, mining=mining, rank_fn='logistic'), (scores,))


def test_size_weighting_counts_the_crowd():
    """One hard negative beside 1000 easy ones: as one bin of 1000 the easy crowd weighs
    1000 times what it weighs as one negative, so the loss moves towards the easy pairs."""
    pos = torch.tensor([0.6], dtype=torch.float64)
    neg = torch.cat([torch.full((1000,), 0.05, dtype=torch.float64),
                     torch.tensor([0.9], dtype=torch.float64)])
    labels = torch.tensor([0] + [1] * 1001)
    scores = torch.cat([pos, neg])[:, None].requires_grad_(True)
    by_bin = global_ranking_loss(scores, labels, mining='group', num_groups=15)
    by_size = global_ranking_loss(scores, labels, mining='group', num_groups=15,
                                  group_weighting='size')
    easy, hard = math.exp(0.05 - 0.6), math.exp(0.9 - 0.6)
    assert by_bin.item() == pytest.approx((easy ** 2 + hard ** 2) / (easy + hard))
    assert by_size.item() == pytest.approx((1000 * easy ** 2 + hard ** 2)
                                           / (1000 * easy + hard))


# --- ranking in logit space ---------------------------------------------------------------

@pytest.mark.parametrize('fn, ref', [(global_ranking_loss, ref_global),
                                     (class_ranking_loss, ref_class)])
@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('mining', ['group', 'ohem', 'none'])
def test_logit_space_matches_reference(fn, ref, rank_fn, mining):
    logits, labels = random_image(10, logits=True)
    loss = fn(logits, labels, rank_fn=rank_fn, mining=mining, from_logits=True,
              score_space='logit', ohem_ratio=2, num_groups=4)
    check(loss, ref(logits, labels, rank_fn, mining, 2, 4), (logits,))


def test_logit_space_gradcheck():
    """Finite differences (float64) of every term in logit space, with size weighting.

    Without the re-weighting z: z is detached by design (Eq. 3), so the gradient of a
    re-weighted loss is not the derivative of its value; the autograd comparisons with
    the references above cover it."""
    logits, labels = random_image(11, num_anchors=24, logits=True)
    ious = torch.rand(24, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pos = (labels >= 0) & (labels < NUM_CLASSES)

    def total(x, s):
        kwargs = dict(rank_fn='logistic', from_logits=True, score_space='logit',
                      reweight=False)
        return (global_ranking_loss(x, labels, mining='ohem', **kwargs)
                + class_ranking_loss(x, labels, group_weighting='size', **kwargs)
                + iou_ranking_loss(x[pos, labels[pos]], s[pos], labels[pos],
                                   rank_fn='logistic', iou_bp='both', score_space='logit'))

    assert torch.autograd.gradcheck(total, (logits, ious.requires_grad_(True)))


@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('iou_bp', ['lower_detached', 'none', 'both'])
def test_iou_logit_space_matches_reference(rank_fn, iou_bp):
    gen = torch.Generator().manual_seed(12)
    logits = (8 * torch.rand(16, generator=gen, dtype=torch.float64) - 4).requires_grad_(True)
    ious = torch.rand(16, generator=gen, dtype=torch.float64).requires_grad_(True)
    labels = torch.randint(0, 2, (16,), generator=gen)
    levels = torch.randint(0, 2, (16,), generator=gen)
    loss = iou_ranking_loss(logits, ious, labels, levels, rank_fn=rank_fn, iou_bp=iou_bp,
                            score_space='logit')
    check(loss, ref_iou(logits, ious, labels, levels, rank_fn=rank_fn, iou_bp=iou_bp),
          (logits, ious))
    with pytest.raises(ValueError, match='pos_scores must be probabilities'):
        iou_ranking_loss(logits, ious, labels, levels)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_ohem_padding_ranks_below_very_negative_logits(dtype):
    """Rows with fewer real negatives than the OHEM budget, all far below 0 (down to the
    dtype's most negative finite value), while the padding holds 0: the real ones come
    first, the values are exact and nothing is NaN."""
    low = torch.finfo(dtype).min
    neg = torch.tensor([[-1e4, 0.0, -60.0, 0.0], [low, -3e3, -7.0, 0.0]], dtype=dtype)
    neg_mask = torch.tensor([[1, 0, 1, 0], [1, 1, 1, 0]], dtype=torch.bool)
    neg.requires_grad_(True)
    mined, mask = batched_mine_negatives(neg, neg_mask, torch.tensor([2, 2]), 'ohem', ratio=3)
    assert mask.tolist() == [[True, True, False], [True, True, True]]
    assert mined[0, :2].tolist() == [-60.0, -1e4] and mined[1].tolist() == [-7.0, -3e3, low]
    assert torch.isfinite(mined).all()
    grad, = grads((mined * mask).sum(), (neg,))
    assert grad.tolist() == neg_mask.to(dtype).tolist()


@pytest.mark.parametrize('rank_fn', RANK_FNS)
def test_ohem_logit_space_with_very_negative_logits(rank_fn):
    """Background logits near -1e4 and -50 (probabilities 0 in float64): OHEM picks them
    by logit, the loss and its gradient match the reference, finite."""
    logits, labels = random_image(13, num_anchors=40, logits=True)
    with torch.no_grad():
        background = labels == NUM_CLASSES
        index = torch.arange(40)[background].double()
        base = torch.where(index % 2 == 0, torch.full_like(index, -1e4), -50 - index)
        # distinct class logits: the max over classes has one arg-max, as in the reference
        logits[background] = base[:, None] + 0.1 * torch.arange(NUM_CLASSES).double()
        logits[(labels >= 0) & (labels < NUM_CLASSES)] -= 40
    kwargs = dict(rank_fn=rank_fn, mining='ohem', from_logits=True, score_space='logit')
    for fn, ref in [(global_ranking_loss, ref_global), (class_ranking_loss, ref_class)]:
        loss = fn(logits, labels, **kwargs)
        assert torch.isfinite(loss)
        check(loss, ref(logits, labels, rank_fn, 'ohem'), (logits,))
        assert torch.isfinite(grads(loss, (logits,))[0]).all()


def test_group_mining_in_logit_space_spans_huge_ranges():
    """Bins from a range wider than float32 can hold (max - min overflows): bins are
    computed in float64, so each negative lands in its own bin and nothing is NaN."""
    top = torch.finfo(torch.float32).max
    neg = torch.tensor([-top, 0.0, top], requires_grad=True)
    mined, counts = mine_negatives(neg, 1, 'group', num_groups=4, score_space='logit',
                                   with_counts=True)
    assert counts.tolist() == [1, 1, 1] and mined.tolist() == [-top, 0.0, top]


def test_logit_space_has_no_flat_trap():
    """Every logit at -30 (probabilities ~1e-13): in probability space the terms sit at
    their flat value with a vanishing gradient; in logit space they sit there too but the
    gradient is of order one, so training can leave."""
    labels = torch.tensor([0, 0, 1, 5, 5, 5, 5, 5])
    logits = torch.full((8, NUM_CLASSES), -30.0, dtype=torch.float64, requires_grad=True)
    for fn in (global_ranking_loss, class_ranking_loss):
        prob = fn(logits, labels, mining='ohem', from_logits=True)
        logit = fn(logits, labels, mining='ohem', from_logits=True, score_space='logit',
                   rank_fn='logistic')
        classes = 1 if fn is global_ranking_loss else 2
        assert prob.item() == pytest.approx(classes * flat_value('exp'))
        assert logit.item() == pytest.approx(classes * flat_value('logistic'))
        assert grads(prob, (logits,))[0].abs().max().item() < 1e-11
        assert grads(logit, (logits,))[0].abs().max().item() > 0.05


def test_logit_space_needs_logits():
    scores, labels = random_image(14)
    with pytest.raises(ValueError, match="score_space='logit' ranks logits"):
        global_ranking_loss(scores, labels, score_space='logit')
    with pytest.raises(ValueError, match='score_space'):
        class_ranking_loss(scores, labels, from_logits=True, score_space='probability')
    with pytest.raises(ValueError, match='class_reduction'):
        class_ranking_loss(scores, labels, class_reduction='max')
    with pytest.raises(ValueError, match='group_weighting'):
        global_ranking_loss(scores, labels, group_weighting='count')
    with pytest.raises(ValueError, match='neg_weight'):
        pairwise_rank_loss(scores[:2, 0], scores[:3, 0],
                           neg_weight=torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64))
    with pytest.raises(ValueError, match='neg_scores must be finite logits'):
        mine_negatives(torch.tensor([0.0, float('inf')]), 1, score_space='logit')


# --- the flat value -----------------------------------------------------------------------

def test_flat_value():
    assert flat_value('exp') == 1.0
    assert flat_value('sigmoid') == 0.5
    assert flat_value('logistic') == pytest.approx(math.log(2), rel=1e-15)
    with pytest.raises(ValueError, match='rank_fn'):
        flat_value('hinge')


@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('mining', ['group', 'ohem', 'none'])
def test_every_term_is_flat_when_scores_are_equal(rank_fn, mining):
    _, labels = random_image(15)
    labels[(labels >= 0) & (labels < NUM_CLASSES)] = 2  # one class: every term is L(0)
    equal = torch.full((60, NUM_CLASSES), 0.3, dtype=torch.float64)
    pos = labels == 2
    for space, scores in [('prob', equal), ('logit', equal * 10)]:
        kwargs = dict(rank_fn=rank_fn, mining=mining, from_logits=space == 'logit',
                      score_space=space)
        assert global_ranking_loss(scores, labels, **kwargs).item() == pytest.approx(
            flat_value(rank_fn))
        assert class_ranking_loss(scores, labels, **kwargs).item() == pytest.approx(
            flat_value(rank_fn))
        iou = iou_ranking_loss(scores[pos, 2], torch.linspace(0, 1, int(pos.sum())).double(),
                               labels[pos], rank_fn=rank_fn, score_space=space)
        assert iou.item() == pytest.approx(flat_value(rank_fn))
