"""Global ranking loss, Eq. (2)-(3) of RankDetNet (CVPR 2021): foreground above background.

    L_global = sum_{n in N} sum_{p in P} z(n,p) * L_rank(f(n) - f(p))      (Eq. 2)

P: every foreground sample of the image (all classes), scored by its ground-truth class.
N: the mined background samples, each scored by its highest class confidence.
"""
from torch import Tensor

from .mining import batched_mine_negatives, check_mining_args
from .padding import pad_by_group
from .pairwise import MAX_CHUNK_PAIRS, batched_pairwise_rank_loss
from .rank_functions import get_rank_function
from .selection import ScoreSelection, select_scores
from .validation import check_labels, check_scores, check_shape


def check_scores_and_labels(cls_scores: Tensor, labels: Tensor, from_logits: bool) -> None:
    """Validate ``cls_scores`` [A, C] or [B, A, C] against ``labels`` [A] or [B, A]."""
    if not isinstance(cls_scores, Tensor) or cls_scores.dim() not in (2, 3):
        check_shape(cls_scores, 'cls_scores', [None, None], 'Tensor[A, C] or Tensor[B, A, C]')
    check_shape(labels, 'labels', list(cls_scores.shape[:-1]),
                'Tensor[A] (Tensor[B, A] for a batch) matching cls_scores '
                f'{tuple(cls_scores.shape)}')
    check_scores(cls_scores, 'cls_scores', from_logits=from_logits)
    check_labels(labels, cls_scores.shape[-1], 'labels')


def batched_global_ranking_loss(selection: ScoreSelection, rank_fn: str = 'exp',
                                mining: str = 'group', ohem_ratio: int = 3,
                                num_groups: int = 15, reweight: bool = True,
                                max_chunk_pairs: int = MAX_CHUNK_PAIRS) -> Tensor:
    """The global loss of every image of a batch, unvalidated; see global_ranking_loss.

    Returns:
        Tensor[B]: the loss of each image (0, in the graph, without pairs).
    """
    num_images = selection.labels.shape[0]
    (pos,), pos_mask = pad_by_group(selection.pos_image, num_images,
                                    selection.pos_scores)  # [B, Pmax]
    neg, neg_mask = batched_mine_negatives(
        selection.max_scores, selection.labels == selection.num_classes, pos_mask.sum(1),
        mining, ratio=ohem_ratio, num_groups=num_groups)  # [B, M]
    return batched_pairwise_rank_loss(pos, pos_mask, neg, neg_mask, rank_fn=rank_fn,
                                      reweight=reweight, max_chunk_pairs=max_chunk_pairs)


def global_ranking_loss(cls_scores: Tensor, labels: Tensor, rank_fn: str = 'exp',
                        mining: str = 'group', ohem_ratio: int = 3, num_groups: int = 15,
                        reweight: bool = True, from_logits: bool = False) -> Tensor:
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

    Returns:
        Tensor[] (Tensor[B] for a batch): the loss; 0 that still backpropagates to
        ``cls_scores`` when the image has no foreground or no background sample.

    Raises:
        ValueError: bad shapes, scores outside [0, 1] / NaN / inf, labels outside
            -1..C, unknown ``rank_fn`` or ``mining``.
    """
    get_rank_function(rank_fn)
    check_mining_args(mining, ohem_ratio, num_groups)
    check_scores_and_labels(cls_scores, labels, from_logits)
    single = cls_scores.dim() == 2
    if single:
        cls_scores, labels = cls_scores[None], labels[None]
    loss = batched_global_ranking_loss(select_scores(cls_scores, labels, from_logits),
                                       rank_fn=rank_fn, mining=mining, ohem_ratio=ohem_ratio,
                                       num_groups=num_groups, reweight=reweight)
    return loss[0] if single else loss
