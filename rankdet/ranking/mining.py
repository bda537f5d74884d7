"""Negative mining for the global and class-specific ranking losses (RankDetNet, Sec. 3.1;
docs/method.md section 4).

- ``'ohem'``: keep the ``ratio * |P|`` highest-scoring negatives (1:3 in the paper).
- ``'group'``: split the negatives' score range [min, max] into ``num_groups`` bins of
  equal width; every non-empty bin becomes one negative whose score is the mean of its
  members, so the gradient reaches every member (G = 15 global, G = 3 per class).
  Bin i holds the scores in [min + i w, min + (i + 1) w), w = (max - min) / G; the last
  bin also holds max. When all scores are equal there is one bin. Bin indices come from
  each row's own range by arithmetic (``bucketize`` takes one boundary set for all rows)
  and members are summed with one ``index_add``, without a loop over rows or bins.
- ``'none'``: every negative (no mining).

Group weighting (an extension, not the paper): the paper counts each bin as ONE negative
(``'bin'``), so a bin of thousands of background anchors weighs as much as a bin of one.
``'size'`` makes each bin count with the number of its members, as bucketed ranking
losses do: the loss equals the loss over the bin means with each mean repeated ``count``
times. The mined negatives then come with their counts (``with_counts=True``); OHEM and
``'none'`` keep single samples (count 1), so the weighting changes nothing for them.

Scores may be probabilities or logits (``score_space='logit'``): the bins span the
negatives' own range, and OHEM ranks padding below every real score by selecting on a
key where padding is ``-inf`` and gathering the real (finite) values, so no padding value
enters the loss, however negative the logits.
"""
import torch
from torch import Tensor

from .validation import SCORE_SPACES, check_choice, check_scores, check_shape

MINING_MODES = ('group', 'ohem', 'none')


def check_mining_args(mode: str, ratio: int, num_groups: int) -> None:
    """Raise ValueError for an unknown mining mode or a non-positive ratio / group count."""
    check_choice(mode, 'mining', MINING_MODES)
    if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 1:
        raise ValueError(f'the OHEM ratio must be an int >= 1, got {ratio!r}')
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1:
        raise ValueError(f'the number of groups must be an int >= 1, got {num_groups!r}')


def batched_mine_negatives(neg: Tensor, neg_mask: Tensor, num_pos: Tensor, mode: str,
                           ratio: int = 3, num_groups: int = 15, with_counts: bool = False):
    """Mine the negatives of K problems at once (no Python loop over problems or bins).

    Args:
        neg (Tensor[K, N]): negative scores (probabilities or logits), padded.
        neg_mask (Tensor[K, N]): bool, True for the real negatives.
        num_pos (Tensor[K]): int, the positives of each problem (OHEM keeps ratio times it).
        mode (str): ``'group'``, ``'ohem'`` or ``'none'``.
        ratio (int): OHEM negatives per positive.
        num_groups (int): G, the equal-width score bins of group mining.
        with_counts (bool): also return the members behind each mined negative.

    Returns:
        (Tensor[K, M], Tensor[K, M]): the mined negative scores (differentiable) and their
        bool mask. OHEM: the top scores in descending order, M = max kept. Group: the bin
        means in ascending bin order, M = G, masked where a bin is empty. With
        ``with_counts`` a third Tensor[K, M] in ``neg``'s dtype: the members of each bin
        (group), 1 (OHEM, none); 0 where masked.
    """
    num_problems = neg.shape[0]
    if mode == 'none' or neg.shape[1] == 0:
        return (neg, neg_mask, neg_mask.to(neg.dtype)) if with_counts else (neg, neg_mask)
    if mode == 'ohem':
        keep = torch.minimum(num_pos * ratio, neg_mask.sum(1))  # [K]
        num_keep = int(keep.max().item()) if num_problems > 0 else 0
        if num_keep == 0:
            out = neg[:, :0], neg_mask[:, :0]
        else:
            # select on a key where padding is -inf (below every finite score, even a
            # logit at finfo.min), then gather the real values: no fill value enters the loss
            key = neg.detach().masked_fill(~neg_mask, float('-inf'))
            index = key.topk(num_keep, dim=1).indices  # [K, M]
            mask = torch.arange(num_keep, device=neg.device)[None, :] < keep[:, None]
            out = neg.gather(1, index), mask
        return (*out, out[1].to(neg.dtype)) if with_counts else out
    if mode != 'group':
        check_choice(mode, 'mining', MINING_MODES)

    # bin indices in float64: a logit range may overflow float32's (max - min)
    scores = neg.detach().double()
    any_neg = neg_mask.any(1)  # [K]
    low = scores.masked_fill(~neg_mask, float('inf')).amin(1)
    high = scores.masked_fill(~neg_mask, float('-inf')).amax(1)
    low = torch.where(any_neg, low, torch.zeros_like(low))
    span = torch.where(any_neg, high - low, torch.zeros_like(low))
    scale = torch.where(span > 0, num_groups / span.clamp(min=torch.finfo(span.dtype).tiny),
                        torch.zeros_like(span))
    position = ((scores - low[:, None]) * scale[:, None]).nan_to_num(0.0)  # padding: any
    bins = position.floor().clamp_(0, num_groups - 1).long()
    flat = torch.arange(num_problems, device=neg.device)[:, None] * num_groups + bins  # [K, N]
    dump = num_problems * num_groups  # padding goes to one extra, discarded slot
    flat = torch.where(neg_mask, flat, torch.full_like(flat, dump)).flatten()
    sums = neg.new_zeros(dump + 1).index_add(0, flat, neg.flatten())[:dump]
    counts = torch.bincount(flat, minlength=dump + 1)[:dump]
    means = sums / counts.clamp(min=1).to(neg.dtype)
    out = means.view(num_problems, num_groups), (counts > 0).view(num_problems, num_groups)
    return (*out, counts.to(neg.dtype).view(num_problems, num_groups)) if with_counts else out


def mine_negatives(neg_scores: Tensor, num_pos: int, mode: str = 'ohem', ratio: int = 3,
                   num_groups: int = 15, score_space: str = 'prob',
                   with_counts: bool = False):
    """Mine the negatives of one ranking problem.

    Args:
        neg_scores (Tensor[N]): negative confidences f(n) in [0, 1] (any finite logits
            with ``score_space='logit'``).
        num_pos (int): |P|, the number of positives (OHEM keeps ``ratio * num_pos``).
        mode (str): ``'ohem'`` (top scores), ``'group'`` (equal-width bin means) or
            ``'none'`` (all negatives).
        ratio (int): OHEM negatives per positive (3 in the paper).
        num_groups (int): G for ``'group'`` (15 global, 3 per class in the paper).
        score_space (str): ``'prob'`` (default) or ``'logit'``: what ``neg_scores`` hold.
        with_counts (bool): also return the members behind each mined score.

    Returns:
        Tensor[M]: the mined scores. OHEM: ``min(ratio * num_pos, N)`` scores in
        descending order. Group: one mean per non-empty bin, in ascending score order
        (M <= G), each differentiable to all members of its bin. With ``with_counts``,
        (scores, Tensor[M] member counts).

    Raises:
        ValueError: a score outside [0, 1] (probabilities), NaN or inf; unknown mode,
            score space; bad ratio/groups.
    """
    check_mining_args(mode, ratio, num_groups)
    check_choice(score_space, 'score_space', SCORE_SPACES)
    check_shape(neg_scores, 'neg_scores', [None], 'Tensor[N]')
    check_scores(neg_scores, 'neg_scores', from_logits=score_space == 'logit')
    if isinstance(num_pos, bool) or not isinstance(num_pos, int) or num_pos < 0:
        raise ValueError(f'num_pos must be an int >= 0, got {num_pos!r}')
    mask = torch.ones_like(neg_scores, dtype=torch.bool)[None]
    num_pos_t = torch.tensor([num_pos], device=neg_scores.device)
    mined, mined_mask, counts = batched_mine_negatives(
        neg_scores[None], mask, num_pos_t, mode, ratio=ratio, num_groups=num_groups,
        with_counts=True)
    if with_counts:
        return mined[mined_mask], counts[mined_mask]
    return mined[mined_mask]
