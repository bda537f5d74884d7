"""Global ranking loss, Eq. (2)-(3) of RankDetNet (CVPR 2021): foreground above background.

    L_global = sum_{n in N} sum_{p in P} z(n,p) * L_rank(f(n) - f(p))      (Eq. 2)

P: every foreground sample of the image (all classes), scored by its ground-truth class.
N: the mined background samples, each scored by its highest class confidence.
See docs/method.md section 2 (and section 4 for the mining).

Two switches beyond the paper (defaults: the paper): ``group_weighting='size'`` counts a
mined bin as its number of members, and ``score_space='logit'`` ranks logits instead of
sigmoid probabilities (no flat trap where all probabilities saturate near 0 and every
pair's gradient through the sigmoid vanishes).
"""
from torch import Tensor

from .mining import batched_mine_negatives, check_mining_args
from .padding import pad_by_group
from .pairwise import MAX_CHUNK_PAIRS, batched_pairwise_rank_loss
from .rank_functions import get_rank_function
from .selection import ScoreSelection, select_scores
from .validation import (GROUP_WEIGHTINGS, SCORE_SPACES, check_choice, check_labels,
                         check_scores, check_shape)


def check_scores_and_labels(cls_scores: Tensor, labels: Tensor, from_logits: bool,
                            score_space: str = 'prob') -> None:
    """Validate ``cls_scores`` [A, C] or [B, A, C] against ``labels`` [A] or [B, A].

    ``score_space='logit'`` ranks logits, so it needs ``from_logits=True``.
    """
    check_choice(score_space, 'score_space', SCORE_SPACES)
    if score_space == 'logit' and not from_logits:
        raise ValueError("score_space='logit' ranks logits: pass the logits as cls_scores "
                         'with from_logits=True')
    if not isinstance(cls_scores, Tensor) or cls_scores.dim() not in (2, 3):
        check_shape(cls_scores, 'cls_scores', [None, None], 'Tensor[A, C] or Tensor[B, A, C]')
    check_shape(labels, 'labels', list(cls_scores.shape[:-1]),
                'Tensor[A] (Tensor[B, A] for a batch) matching cls_scores '
                f'{tuple(cls_scores.shape)}')
    check_scores(cls_scores, 'cls_scores', from_logits=from_logits)
    check_labels(labels, cls_scores.shape[-1], 'labels')


def check_group_weighting(group_weighting: str) -> None:
    """Raise ValueError unless ``group_weighting`` is ``'bin'`` or ``'size'``."""
    check_choice(group_weighting, 'group_weighting', GROUP_WEIGHTINGS)


def batched_global_ranking_loss(selection: ScoreSelection, rank_fn: str = 'exp',
                                mining: str = 'group', ohem_ratio: int = 3,
                                num_groups: int = 15, reweight: bool = True,
                                max_chunk_pairs: int = MAX_CHUNK_PAIRS,
                                group_weighting: str = 'bin') -> Tensor:
    """The global loss of every image of a batch, unvalidated; see global_ranking_loss.

    The selection's scores are used as they are: probabilities, or logits for the
    logit score space (``select_scores`` without sigmoid).

    Returns:
        Tensor[B]: the loss of each image (0, in the graph, without pairs).
    """
    num_images = selection.labels.shape[0]
    (pos,), pos_mask = pad_by_group(selection.pos_image, num_images,
                                    selection.pos_scores)  # [B, Pmax]
    neg, neg_mask, counts = batched_mine_negatives(
        selection.max_scores, selection.labels == selection.num_classes, pos_mask.sum(1),
        mining, ratio=ohem_ratio, num_groups=num_groups, with_counts=True)  # [B, M]
    return batched_pairwise_rank_loss(
        pos, pos_mask, neg, neg_mask, rank_fn=rank_fn, reweight=reweight,
        max_chunk_pairs=max_chunk_pairs,
        neg_weight=counts if group_weighting == 'size' else None)


def global_ranking_loss(cls_scores: Tensor, labels: Tensor, rank_fn: str = 'exp',
                        mining: str = 'group', ohem_ratio: int = 3, num_groups: int = 15,
                        reweight: bool = True, from_logits: bool = False,
                        group_weighting: str = 'bin', score_space: str = 'prob') -> Tensor:
    """Global ranking loss of one image (or of each image of a batch), Eq. (2)-(3).

        loss = sum_{n,p} z(n,p) * L_rank(f(n) - f(p)),   z = L_rank(.) / sum L_rank(.), detached

    f(p) of a foreground sample is its confidence for its ground-truth class; f(n) of a
    background sample is its highest class confidence. Ignored samples take no part.

    Args:
        cls_scores (Tensor[A, C] or Tensor[B, A, C]): class probabilities in [0, 1] (logits
            with ``from_logits=True``; sigmoid is then applied to the selected entries only).
        labels (Tensor[A] or Tensor[B, A]): 0..C-1 positives, C background, -1 ignored.
        rank_fn (str): ``'exp'`` (default, O(A) factorised), ``'sigmoid'``, ``'logistic'``.
        mining (str): ``'group'`` (default), ``'ohem'`` or ``'none'`` (all negatives).
        ohem_ratio (int): OHEM negatives per positive (paper: 3).
        num_groups (int): score bins of group mining (paper: 15 for this loss).
        reweight (bool): dynamic re-weighting z (default); False: mean over pairs.
        from_logits (bool): ``cls_scores`` are logits; f = sigmoid(logit).
        group_weighting (str): ``'bin'`` (default, the paper: a bin counts as one
            negative) or ``'size'`` (a bin counts as its number of members; no effect
            without group mining). See :mod:`rankdet.ranking.mining`.
        score_space (str): ``'prob'`` (default, the paper: f = sigmoid(logit)) or
            ``'logit'`` (f = the logit itself; needs ``from_logits=True``).

    Returns:
        Tensor[] (Tensor[B] for a batch): the loss; 0 that still backpropagates to
        ``cls_scores`` when the image has no foreground or no background sample.

    Raises:
        ValueError: bad shapes, scores outside [0, 1] / NaN / inf, labels outside
            -1..C, unknown ``rank_fn``, ``mining``, ``group_weighting`` or ``score_space``.
    """
    get_rank_function(rank_fn)
    check_mining_args(mining, ohem_ratio, num_groups)
    check_group_weighting(group_weighting)
    check_scores_and_labels(cls_scores, labels, from_logits, score_space)
    single = cls_scores.dim() == 2
    if single:
        cls_scores, labels = cls_scores[None], labels[None]
    selection = select_scores(cls_scores, labels, from_logits and score_space == 'prob')
    loss = batched_global_ranking_loss(selection, rank_fn=rank_fn, mining=mining,
                                       ohem_ratio=ohem_ratio, num_groups=num_groups,
                                       reweight=reweight, group_weighting=group_weighting)
    return loss[0] if single else loss
