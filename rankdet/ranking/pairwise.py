"""The dynamically re-weighted pairwise ranking loss, Eq. (2)-(5) of RankDetNet (CVPR 2021).

    loss = sum_{n,p} z(n,p) * L_rank(f(n) - f(p)),
    z(n,p) = L_rank(f(n) - f(p)) / sum_{n',p'} L_rank(f(n') - f(p')),   z detached (Eq. 3).

Shared by the global (Eq. 2) and class-specific (Eq. 4) losses. Because z carries no
gradient the loss is ``sum_{n,p} L_d L / S`` (``L_d`` the detached pair term, ``S`` its
sum); its value is the L-weighted mean of L, between min L and max L.

With ``exp`` the sums factorise (METHOD.md sec. 1), with ``g = f.detach()``::

    loss = [sum_n e^{g(n)+f(n)}] [sum_p e^{-g(p)-f(p)}] / ([sum_n e^{g(n)}] [sum_p e^{-g(p)}])

computed in log space with logsumexp, O(P + N) time and memory. (The look-alike
``[sum e^{2f(n)}][sum e^{-2f(p)}] / (...)`` has the same value but differentiates z too,
doubling the gradient.) The other rank functions sum over explicit pairs, in chunks of the
negatives that hold at most ``max_chunk_pairs`` pair terms at a time, forward and backward.

``reweight=False`` (Table 4, Exp. 7: no dynamic re-weighting) gives every pair the same
weight: the loss is the mean of L_rank over pairs, so both settings sum weights to one.
"""
import torch
from torch import Tensor

from .chunking import chunked_sum
from .rank_functions import get_rank_function
from .validation import check_scores, check_shape

#: Pair terms held at once by the chunked (non-exp) path: 4M floats, 16 MB per temporary.
MAX_CHUNK_PAIRS = 2 ** 22


def _masked_logsumexp(x: Tensor, mask: Tensor) -> Tensor:
    """logsumexp over dim 1 of the masked entries; each row needs one True."""
    return x.masked_fill(~mask, float('-inf')).logsumexp(dim=1)


def batched_pairwise_rank_loss(pos: Tensor, pos_mask: Tensor, neg: Tensor, neg_mask: Tensor,
                               rank_fn: str = 'exp', reweight: bool = True,
                               max_chunk_pairs: int = MAX_CHUNK_PAIRS) -> Tensor:
    """K independent ranking problems at once, each Eq. (2) over its own pairs.

    Args:
        pos (Tensor[K, P]): positive (foreground) confidences f(p) in [0, 1], padded.
        pos_mask (Tensor[K, P]): bool, True for the real positives of each problem.
        neg (Tensor[K, N]): negative (background) confidences f(n) in [0, 1], padded.
        neg_mask (Tensor[K, N]): bool, True for the real negatives of each problem.
        rank_fn (str): ``'exp'``, ``'sigmoid'`` or ``'logistic'``.
        reweight (bool): the dynamic re-weighting z of Eq. (3); False: mean over pairs.
        max_chunk_pairs (int): pair terms held at once by the non-exp path.

    Returns:
        Tensor[K]: the loss of each problem; 0 (still in the graph) for a problem without
        a positive or without a negative. Inputs are not validated here.
    """
    rank = get_rank_function(rank_fn)
    num_problems = pos.shape[0]
    if pos.shape[1] == 0 or neg.shape[1] == 0:
        return pos.new_zeros(num_problems) + 0 * (pos.sum() + neg.sum())
    has_pairs = pos_mask.any(1) & neg_mask.any(1)  # [K]
    # A problem without pairs computes on all its (finite, padded) entries instead, so
    # no row is empty; its result is replaced by 0 below, which blocks its gradient.
    pos_mask = pos_mask | ~has_pairs[:, None]
    neg_mask = neg_mask | ~has_pairs[:, None]

    if rank_fn == 'exp':
        if reweight:
            g_pos, g_neg = pos.detach(), neg.detach()
            log_loss = (_masked_logsumexp(g_neg + neg, neg_mask)
                        + _masked_logsumexp(-g_pos - pos, pos_mask)
                        - _masked_logsumexp(g_neg, neg_mask)
                        - _masked_logsumexp(-g_pos, pos_mask))
        else:
            log_loss = (_masked_logsumexp(neg, neg_mask) + _masked_logsumexp(-pos, pos_mask)
                        - neg_mask.sum(1).to(neg.dtype).log()
                        - pos_mask.sum(1).to(pos.dtype).log())
        loss = log_loss.exp()
    else:
        def pair_sums(neg_part: Tensor, neg_mask_part: Tensor, pos: Tensor,
                      pos_mask: Tensor) -> Tensor:
            diff = neg_part[:, None, :] - pos[:, :, None]  # [K, P, n]
            valid = pos_mask[:, :, None] & neg_mask_part[:, None, :]  # [K, P, n]
            terms = rank(diff)
            weighted = terms.detach() * terms if reweight else terms
            numerator = weighted.masked_fill(~valid, 0).sum((1, 2))  # [K]
            weight_sum = terms.detach().masked_fill(~valid, 0).sum((1, 2))  # [K]
            return torch.stack([numerator, weight_sum])

        chunk = max(1, max_chunk_pairs // max(1, num_problems * pos.shape[1]))
        numerator, weight_sum = chunked_sum(pair_sums, [neg, neg_mask], [pos, pos_mask],
                                            dim=1, chunk_size=chunk)
        if not reweight:
            weight_sum = (pos_mask.sum(1) * neg_mask.sum(1)).to(pos.dtype)
        loss = numerator / weight_sum
    return torch.where(has_pairs, loss, torch.zeros_like(loss))


def pairwise_rank_loss(pos_scores: Tensor, neg_scores: Tensor, rank_fn: str = 'exp',
                       reweight: bool = True,
                       max_chunk_pairs: int = MAX_CHUNK_PAIRS) -> Tensor:
    """Dynamically re-weighted ranking loss of one set of pairs, Eq. (2)-(3).

        loss = sum_{n,p} z(n,p) * L_rank(f(n) - f(p)),   z = L_rank(...) / sum L_rank, detached

    Args:
        pos_scores (Tensor[P]): confidences f(p) in [0, 1] of the positives (foreground).
        neg_scores (Tensor[N]): confidences f(n) in [0, 1] of the (mined) negatives.
        rank_fn (str): ``'exp'`` (default, factorised, O(P + N)), ``'sigmoid'`` or
            ``'logistic'`` (explicit pairs in chunks of ``max_chunk_pairs``).
        reweight (bool): dynamic re-weighting z (default); False gives every pair weight
            1 / (P N), i.e. the mean of L_rank over pairs.
        max_chunk_pairs (int): pair terms held in memory at once by the non-exp path.

    Returns:
        Tensor[]: the loss; 0 (connected to both inputs) when P or N is 0.

    Raises:
        ValueError: a score outside [0, 1], NaN or inf; not 1-D; unknown ``rank_fn``.
    """
    get_rank_function(rank_fn)
    check_shape(pos_scores, 'pos_scores', [None], 'Tensor[P]')
    check_shape(neg_scores, 'neg_scores', [None], 'Tensor[N]')
    check_scores(pos_scores, 'pos_scores')
    check_scores(neg_scores, 'neg_scores')
    return batched_pairwise_rank_loss(
        pos_scores[None], torch.ones_like(pos_scores, dtype=torch.bool)[None],
        neg_scores[None], torch.ones_like(neg_scores, dtype=torch.bool)[None],
        rank_fn=rank_fn, reweight=reweight, max_chunk_pairs=max_chunk_pairs)[0]
