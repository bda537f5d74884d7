"""The dynamically re-weighted pairwise ranking loss, Eq. (2)-(5) of RankDetNet (CVPR 2021).

    loss = sum_{n,p} z(n,p) * L_rank(f(n) - f(p)),
    z(n,p) = L_rank(f(n) - f(p)) / sum_{n',p'} L_rank(f(n') - f(p')),   z detached (Eq. 3).

Shared by the global (Eq. 2) and class-specific (Eq. 4) losses. Because z carries no
gradient the loss is ``sum_{n,p} L_d L / S`` (``L_d`` the detached pair term, ``S`` its
sum); its value is the L-weighted mean of L, between min L and max L.

With ``exp`` the sums factorise (docs/method.md section 2), with ``g = f.detach()``::

    loss = [sum_n e^{g(n)+f(n)}] [sum_p e^{-g(p)-f(p)}] / ([sum_n e^{g(n)}] [sum_p e^{-g(p)}])

computed in log space with logsumexp, O(P + N) time and memory. (The look-alike
``[sum e^{2f(n)}][sum e^{-2f(p)}] / (...)`` has the same value but differentiates z too,
doubling the gradient.) The other rank functions sum over explicit pairs, in chunks of the
negatives that hold at most ``max_chunk_pairs`` pair terms at a time, forward and backward.

``reweight=False`` (Table 4, Exp. 7: no dynamic re-weighting) gives every pair the same
weight: the loss is the mean of L_rank over pairs, so both settings sum weights to one.

Negative weights ``w(n)`` (``group_weighting='size'``: a group mean stands for ``w(n)``
members) count each negative ``w(n)`` times, exactly as if it were repeated::

    loss = sum_{n,p} w(n) L_d L / sum_{n,p} w(n) L_d      (re-weighted)
    loss = sum_{n,p} w(n) L / (|P| sum_n w(n))            (plain mean)

On the ``exp`` path the weights enter the negative-side sums as ``log w(n)`` added inside
the logsumexps, which keeps it O(P + N).

Scores are probabilities in the paper; logits (``score_space='logit'``) go through the
same formulas, but ``exp`` of a logit gap can be very large, hence ``'logistic'`` there.
"""
from typing import Optional

import torch
from torch import Tensor

from .chunking import chunked_sum
from .rank_functions import get_rank_function
from .validation import SCORE_SPACES, check_choice, check_scores, check_shape

#: Pair terms held at once by the chunked (non-exp) path: 4M floats, 16 MB per temporary.
MAX_CHUNK_PAIRS = 2 ** 22


def _masked_logsumexp(x: Tensor, mask: Tensor) -> Tensor:
    """logsumexp over dim 1 of the masked entries; each row needs one True."""
    return x.masked_fill(~mask, float('-inf')).logsumexp(dim=1)


def batched_pairwise_rank_loss(pos: Tensor, pos_mask: Tensor, neg: Tensor, neg_mask: Tensor,
                               rank_fn: str = 'exp', reweight: bool = True,
                               max_chunk_pairs: int = MAX_CHUNK_PAIRS,
                               neg_weight: Optional[Tensor] = None) -> Tensor:
    """K independent ranking problems at once, each Eq. (2) over its own pairs.

    Args:
        pos (Tensor[K, P]): positive (foreground) scores f(p), padded: probabilities in
            [0, 1] (the paper) or logits.
        pos_mask (Tensor[K, P]): bool, True for the real positives of each problem.
        neg (Tensor[K, N]): negative (background) scores f(n), padded, like ``pos``.
        neg_mask (Tensor[K, N]): bool, True for the real negatives of each problem.
        rank_fn (str): ``'exp'``, ``'sigmoid'`` or ``'logistic'``.
        reweight (bool): the dynamic re-weighting z of Eq. (3); False: mean over pairs.
        max_chunk_pairs (int): pair terms held at once by the non-exp path.
        neg_weight (Tensor[K, N], optional): w(n) > 0 at real negatives, the number of
            samples each stands for (a group's size); None: 1 each (the paper).

    Returns:
        Tensor[K]: the loss of each problem; 0 (still in the graph) for a problem without
        a positive or without a negative. Inputs are not validated here.
    """
    rank = get_rank_function(rank_fn)
    num_problems = pos.shape[0]
    if pos.shape[1] == 0 or neg.shape[1] == 0:
        return pos.new_zeros(num_problems) + 0 * (pos.sum() + neg.sum())
    has_pairs = pos_mask.any(1) & neg_mask.any(1)  # [K]
    # A problem without pairs computes on zeros of weight 1 with every entry unmasked
    # instead, so no row is empty and no large logit overflows; its result is replaced by
    # 0 below (its gradient is exactly 0 and the result stays in the graph).
    no_pairs = ~has_pairs[:, None]  # [K, 1]
    pos = torch.where(no_pairs, torch.zeros_like(pos), pos)
    neg = torch.where(no_pairs, torch.zeros_like(neg), neg)
    if neg_weight is not None:
        neg_weight = torch.where(neg_mask, neg_weight.to(neg.dtype), torch.zeros_like(neg))
        neg_weight = torch.where(no_pairs, torch.ones_like(neg), neg_weight)
    pos_mask, neg_mask = pos_mask | no_pairs, neg_mask | no_pairs

    if rank_fn == 'exp':
        # log w(n) inside the negative-side logsumexps: each negative counts w(n) times
        log_w = 0 if neg_weight is None else neg_weight.log()
        if reweight:
            g_pos, g_neg = pos.detach(), neg.detach()
            log_loss = (_masked_logsumexp(g_neg + neg + log_w, neg_mask)
                        + _masked_logsumexp(-g_pos - pos, pos_mask)
                        - _masked_logsumexp(g_neg + log_w, neg_mask)
                        - _masked_logsumexp(-g_pos, pos_mask))
        else:
            num_neg = (neg_mask.sum(1).to(neg.dtype) if neg_weight is None
                       else neg_weight.sum(1))
            log_loss = (_masked_logsumexp(neg + log_w, neg_mask)
                        + _masked_logsumexp(-pos, pos_mask)
                        - num_neg.log() - pos_mask.sum(1).to(pos.dtype).log())
        loss = log_loss.exp()
    else:
        weight = neg_mask.to(neg.dtype) if neg_weight is None else neg_weight

        def pair_sums(neg_part: Tensor, neg_mask_part: Tensor, weight_part: Tensor,
                      pos: Tensor, pos_mask: Tensor) -> Tensor:
            diff = neg_part[:, None, :] - pos[:, :, None]  # [K, P, n]
            valid = pos_mask[:, :, None] & neg_mask_part[:, None, :]  # [K, P, n]
            raw = rank(diff)
            plain = raw.detach()
            terms = raw * weight_part[:, None, :]  # w(n) L
            weighted = plain * terms if reweight else terms
            numerator = weighted.masked_fill(~valid, 0).sum((1, 2))  # [K]
            weight_sum = (plain * weight_part[:, None, :]).masked_fill(~valid, 0).sum((1, 2))
            return torch.stack([numerator, weight_sum])

        chunk = max(1, max_chunk_pairs // max(1, num_problems * pos.shape[1]))
        numerator, weight_sum = chunked_sum(pair_sums, [neg, neg_mask, weight],
                                            [pos, pos_mask], dim=1, chunk_size=chunk)
        if not reweight:
            weight_sum = pos_mask.sum(1).to(pos.dtype) * weight.masked_fill(
                ~neg_mask, 0).sum(1)
        loss = numerator / weight_sum
    return torch.where(has_pairs, loss, torch.zeros_like(loss))


def pairwise_rank_loss(pos_scores: Tensor, neg_scores: Tensor, rank_fn: str = 'exp',
                       reweight: bool = True,
                       max_chunk_pairs: int = MAX_CHUNK_PAIRS, score_space: str = 'prob',
                       neg_weight: Optional[Tensor] = None) -> Tensor:
    """Dynamically re-weighted ranking loss of one set of pairs, Eq. (2)-(3).

        loss = sum_{n,p} z(n,p) * L_rank(f(n) - f(p)),   z = L_rank(...) / sum L_rank, detached

    Args:
        pos_scores (Tensor[P]): confidences f(p) in [0, 1] of the positives (foreground);
            any finite logits with ``score_space='logit'``.
        neg_scores (Tensor[N]): confidences f(n) of the (mined) negatives, likewise.
        rank_fn (str): ``'exp'`` (default, factorised, O(P + N)), ``'sigmoid'`` or
            ``'logistic'`` (explicit pairs in chunks of ``max_chunk_pairs``).
        reweight (bool): dynamic re-weighting z (default); False gives every pair weight
            1 / (P N), i.e. the mean of L_rank over pairs.
        max_chunk_pairs (int): pair terms held in memory at once by the non-exp path.
        score_space (str): ``'prob'`` (default) or ``'logit'``: what the scores hold.
        neg_weight (Tensor[N], optional): how many samples each negative stands for
            (> 0); None: 1 each. The loss is that of each negative repeated w(n) times.

    Returns:
        Tensor[]: the loss; 0 (connected to both inputs) when P or N is 0.

    Raises:
        ValueError: a score outside [0, 1] (probabilities), NaN or inf; not 1-D; unknown
            ``rank_fn`` or ``score_space``; a weight that is not > 0 and finite.
    """
    get_rank_function(rank_fn)
    check_choice(score_space, 'score_space', SCORE_SPACES)
    check_shape(pos_scores, 'pos_scores', [None], 'Tensor[P]')
    check_shape(neg_scores, 'neg_scores', [None], 'Tensor[N]')
    check_scores(pos_scores, 'pos_scores', from_logits=score_space == 'logit')
    check_scores(neg_scores, 'neg_scores', from_logits=score_space == 'logit')
    if neg_weight is not None:
        check_shape(neg_weight, 'neg_weight', [neg_scores.shape[0]],
                    f'Tensor[{neg_scores.shape[0]}] like neg_scores')
        if not neg_weight.is_floating_point() or (neg_weight.numel() and not bool(
                (torch.isfinite(neg_weight) & (neg_weight > 0)).all())):
            raise ValueError(f'neg_weight must hold finite floats > 0, got {neg_weight}')
        neg_weight = neg_weight[None]
    return batched_pairwise_rank_loss(
        pos_scores[None], torch.ones_like(pos_scores, dtype=torch.bool)[None],
        neg_scores[None], torch.ones_like(neg_scores, dtype=torch.bool)[None],
        rank_fn=rank_fn, reweight=reweight, max_chunk_pairs=max_chunk_pairs,
        neg_weight=neg_weight)[0]
