"""rankdet.ranking pairwise loss and negative mining against the brute-force references."""
import pytest
import torch

from rankdet.ranking import (get_rank_function, mine_negatives, pairwise_rank_loss)
from rankdet.ranking.mining import batched_mine_negatives
from rankdet.ranking.pairwise import batched_pairwise_rank_loss
from test_ranking_reference import ref_mine, ref_pairwise

RANK_FNS = ['exp', 'sigmoid', 'logistic']
SEEDS = [0, 1, 2]


def leaf(values):
    """A float64 leaf; lists are converted directly (no float32 rounding)."""
    if isinstance(values, torch.Tensor):
        return values.clone().double().requires_grad_(True)
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def grads(loss, inputs):
    return torch.autograd.grad(loss, inputs, allow_unused=True)


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('reweight', [True, False])
@pytest.mark.parametrize('seed', SEEDS)
def test_pairwise_matches_reference(rank_fn, reweight, seed):
    gen = torch.Generator().manual_seed(seed)
    pos, neg = leaf(torch.rand(7, generator=gen)), leaf(torch.rand(11, generator=gen))
    loss = pairwise_rank_loss(pos, neg, rank_fn=rank_fn, reweight=reweight)
    expected = ref_pairwise(list(pos), list(neg), rank_fn, reweight)
    assert_close(loss, expected)
    for got, want in zip(grads(loss, (pos, neg)), grads(expected, (pos, neg))):
        assert_close(got, want)


@pytest.mark.parametrize('rank_fn', ['sigmoid', 'logistic'])
@pytest.mark.parametrize('chunk', [1, 5, 13])
def test_pairwise_chunked_equals_one_pass(rank_fn, chunk):
    """Chunks of the negatives (checkpointed) give the same value and gradients."""
    gen = torch.Generator().manual_seed(3)
    pos, neg = leaf(torch.rand(5, generator=gen)), leaf(torch.rand(17, generator=gen))
    whole = pairwise_rank_loss(pos, neg, rank_fn=rank_fn)
    chunked = pairwise_rank_loss(pos, neg, rank_fn=rank_fn, max_chunk_pairs=chunk * 5)
    assert_close(chunked, whole)
    for got, want in zip(grads(chunked, (pos, neg)), grads(whole, (pos, neg))):
        assert_close(got, want)


def test_exp_gradient_is_not_doubled():
    """d loss / d f(n) = sum_p z(n,p) e^{f(n)-f(p)}, z detached (docs/method.md section 2)."""
    gen = torch.Generator().manual_seed(4)
    pos, neg = leaf(torch.rand(6, generator=gen)), leaf(torch.rand(9, generator=gen))
    loss = pairwise_rank_loss(pos, neg, rank_fn='exp')
    grad_pos, grad_neg = grads(loss, (pos, neg))
    with torch.no_grad():
        pair = torch.exp(neg[None, :] - pos[:, None])  # [P, N]
        z = pair / pair.sum()
        assert_close(grad_neg, (z * pair).sum(0))
        assert_close(grad_pos, -(z * pair).sum(1))
        assert_close(loss, (z * pair).sum())


@pytest.mark.parametrize('rank_fn', RANK_FNS)
def test_unweighted_gradcheck(rank_fn):
    """Without re-weighting nothing is detached, so finite differences apply."""
    gen = torch.Generator().manual_seed(5)
    pos, neg = leaf(torch.rand(4, generator=gen)), leaf(torch.rand(6, generator=gen))
    assert torch.autograd.gradcheck(
        lambda p, n: pairwise_rank_loss(p, n, rank_fn=rank_fn, reweight=False), (pos, neg))


def test_batched_problems_are_independent():
    """Padded rows of the batched core equal separate 1-D calls; padding is ignored."""
    gen = torch.Generator().manual_seed(6)
    sizes = [(3, 5), (1, 2), (4, 0), (0, 3)]
    pos = leaf(torch.rand(4, 4, generator=gen))
    neg = leaf(torch.rand(4, 5, generator=gen))
    pos_mask = torch.arange(4)[None] < torch.tensor([p for p, _ in sizes])[:, None]
    neg_mask = torch.arange(5)[None] < torch.tensor([n for _, n in sizes])[:, None]
    for rank_fn in RANK_FNS:
        losses = batched_pairwise_rank_loss(pos, pos_mask, neg, neg_mask, rank_fn=rank_fn)
        for k, (num_pos, num_neg) in enumerate(sizes):
            if num_pos and num_neg:
                assert_close(losses[k], pairwise_rank_loss(pos[k, :num_pos],
                                                           neg[k, :num_neg], rank_fn))
            else:
                assert losses[k].item() == 0
        grad_pos, grad_neg = grads(losses.sum(), (pos, neg))
        assert torch.all(grad_pos[~pos_mask] == 0) and torch.all(grad_neg[~neg_mask] == 0)
        assert torch.all(grad_pos[2:] == 0) and torch.all(grad_neg[2:] == 0)
        assert torch.isfinite(grad_pos).all() and torch.isfinite(grad_neg).all()


@pytest.mark.parametrize('mode', ['ohem', 'group', 'none'])
@pytest.mark.parametrize('seed', SEEDS)
def test_mining_matches_reference(mode, seed):
    gen = torch.Generator().manual_seed(seed)
    neg = leaf(torch.rand(40, generator=gen))
    mined = mine_negatives(neg, num_pos=4, mode=mode, ratio=3, num_groups=6)
    expected = torch.stack(ref_mine(list(neg), 4, mode, ratio=3, num_groups=6))
    assert_close(mined, expected)
    weights = torch.rand(len(expected), generator=gen, dtype=torch.float64)
    got, = grads((mined * weights).sum(), (neg,))
    want, = grads((expected * weights).sum(), (neg,))
    assert_close(got, want)


def test_group_mining_gradient_reaches_every_member():
    neg = leaf([0.0, 0.05, 0.1, 0.9, 1.0])
    mined = mine_negatives(neg, num_pos=1, mode='group', num_groups=2)
    assert_close(mined, torch.tensor([0.05, 0.95], dtype=torch.float64))
    grad, = grads(mined.sum(), (neg,))
    assert_close(grad, torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.5, 0.5], dtype=torch.float64))


def test_mining_edge_cases():
    equal = leaf([0.4] * 6)
    assert_close(mine_negatives(equal, 1, mode='group'), leaf([0.4]))
    empty = leaf(torch.zeros(0))
    assert mine_negatives(empty, 3, mode='group').numel() == 0
    assert mine_negatives(empty, 3, mode='ohem').numel() == 0
    few = leaf([0.2, 0.7])
    assert_close(mine_negatives(few, 5, mode='ohem'), leaf([0.7, 0.2]))
    assert mine_negatives(few, 0, mode='ohem').numel() == 0


def test_batched_mining_per_row():
    """Each row is mined on its own: its own range, its own OHEM budget."""
    gen = torch.Generator().manual_seed(7)
    neg = leaf(torch.rand(3, 12, generator=gen))
    mask = torch.rand(3, 12, generator=gen) > 0.3
    num_pos = torch.tensor([1, 2, 5])
    for mode in ['ohem', 'group']:
        mined, mined_mask = batched_mine_negatives(neg, mask, num_pos, mode, ratio=2,
                                                   num_groups=4)
        for k in range(3):
            expected = mine_negatives(neg[k][mask[k]], int(num_pos[k]), mode, ratio=2,
                                      num_groups=4)
            assert_close(mined[k][mined_mask[k]], expected)


def test_edge_cases_of_the_loss():
    one = leaf([0.3])
    negs = leaf([0.1, 0.6])
    for rank_fn in RANK_FNS:
        assert_close(pairwise_rank_loss(one, negs, rank_fn),
                     ref_pairwise(list(one), list(negs), rank_fn))
    # all scores equal: every pair is L(0), the loss is L(0), and gradients are finite
    equal = leaf(torch.full((4,), 0.5))
    for rank_fn in RANK_FNS:
        loss = pairwise_rank_loss(equal, equal, rank_fn)
        assert_close(loss, get_rank_function(rank_fn)(torch.tensor(0.0).double()))
        assert torch.isfinite(grads(loss, (equal,))[0]).all()
    # no positives or no negatives: a zero that still backpropagates (zero gradients)
    empty = leaf(torch.zeros(0))
    for pos, neg in [(empty, negs), (one, empty), (empty, empty)]:
        for rank_fn in RANK_FNS:
            loss = pairwise_rank_loss(pos, neg, rank_fn)
            assert loss.item() == 0 and loss.requires_grad
            loss.backward()
            assert pos.grad is not None and torch.all(pos.grad == 0)
            assert neg.grad is not None and torch.all(neg.grad == 0)


@pytest.mark.parametrize('bad', [1.5, -0.1, float('nan'), float('inf')])
def test_invalid_scores_raise(bad):
    good = torch.tensor([0.2, 0.4])
    with pytest.raises(ValueError, match='neg_scores'):
        pairwise_rank_loss(good, torch.tensor([0.1, bad]))
    with pytest.raises(ValueError, match='pos_scores'):
        pairwise_rank_loss(torch.tensor([bad]), good)
    with pytest.raises(ValueError, match='neg_scores'):
        mine_negatives(torch.tensor([bad, 0.3]), 1, mode='group')


def test_invalid_arguments_raise():
    scores = torch.tensor([0.2, 0.4])
    with pytest.raises(ValueError, match="rank_fn.*'hinge'"):
        pairwise_rank_loss(scores, scores, rank_fn='hinge')
    with pytest.raises(ValueError, match="mining.*'topk'"):
        mine_negatives(scores, 1, mode='topk')
    with pytest.raises(ValueError, match='ratio'):
        mine_negatives(scores, 1, mode='ohem', ratio=0)
    with pytest.raises(ValueError, match='groups'):
        mine_negatives(scores, 1, mode='group', num_groups=0)
    with pytest.raises(ValueError, match=r'pos_scores must have shape Tensor\[P\]'):
        pairwise_rank_loss(scores[None], scores)
    with pytest.raises(ValueError, match='floating-point'):
        pairwise_rank_loss(torch.tensor([0, 1]), scores)
