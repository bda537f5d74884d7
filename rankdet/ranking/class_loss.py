"""Class-specific ranking loss, Eq. (4)-(5) of RankDetNet (CVPR 2021): positives of class
c above the negatives for c.

    L_class = sum_c sum_{n in N_c} sum_{p in P_c} z_c(n,p) * L_rank(f_c(n) - f_c(p))   (Eq. 4)

For each class c with a positive in the image: P_c, the samples assigned to c; N_c, every
other non-ignored sample (background and other classes), mined per class; all scored by
their confidence f_c for class c. Each class has its own re-weighting z_c (Eq. 5); the
image's loss is the mean over the classes that have both positives and negatives
(METHOD.md sec. 2), so an image with many classes is not weighted up.

All (image, class) problems of a batch are solved at once: ``K = sum_b |classes in b|``.
"""
from torch import Tensor

from .global_loss import check_scores_and_labels
from .mining import batched_mine_negatives, check_mining_args
from .padding import pad_by_group
from .pairwise import MAX_CHUNK_PAIRS, batched_pairwise_rank_loss
from .rank_functions import get_rank_function
from .selection import ScoreSelection, select_scores


def batched_class_ranking_loss(selection: ScoreSelection, rank_fn: str = 'exp',
                               mining: str = 'group', ohem_ratio: int = 3,
                               num_groups: int = 3, reweight: bool = True,
                               max_chunk_pairs: int = MAX_CHUNK_PAIRS) -> Tensor:
    """The class-specific loss of every image of a batch, unvalidated; see
    class_ranking_loss.

    Returns:
        Tensor[B]: the loss of each image (0, in the graph, without pairs).
    """
    sel = selection
    num_images, num_problems = sel.labels.shape[0], sel.problem_image.numel()
    (pos,), pos_mask = pad_by_group(sel.pos_problem, num_problems, sel.pos_scores)  # [K, Pmax]
    problem_labels = sel.labels[sel.problem_image]  # [K, A]
    neg_mask = (problem_labels >= 0) & (problem_labels != sel.problem_class[:, None])
    neg, neg_mask = batched_mine_negatives(sel.columns, neg_mask, pos_mask.sum(1), mining,
                                           ratio=ohem_ratio, num_groups=num_groups)
    per_class = batched_pairwise_rank_loss(pos, pos_mask, neg, neg_mask, rank_fn=rank_fn,
                                           reweight=reweight,
                                           max_chunk_pairs=max_chunk_pairs)  # [K]
    contributed = (pos_mask.any(1) & neg_mask.any(1)).to(per_class.dtype)  # [K]
    total = per_class.new_zeros(num_images).index_add(0, sel.problem_image, per_class)
    count = per_class.new_zeros(num_images).index_add(0, sel.problem_image, contributed)
    return total / count.clamp(min=1)


def class_ranking_loss(cls_scores: Tensor, labels: Tensor, rank_fn: str = 'exp',
                       mining: str = 'group', ohem_ratio: int = 3, num_groups: int = 3,
                       reweight: bool = True, from_logits: bool = False) -> Tensor:
    """Class-specific ranking loss of one image (or each image of a batch), Eq. (4)-(5).

        loss = mean_c sum_{n in N_c, p in P_c} z_c(n,p) * L_rank(f_c(n) - f_c(p))

    Args:
        cls_scores (Tensor[A, C] or Tensor[B, A, C]): class probabilities in [0, 1] (logits
            with ``from_logits=True``; sigmoid is then applied to the selected entries only).
        labels (Tensor[A] or Tensor[B, A]): 0..C-1 positives, C background, -1 ignored.
        rank_fn (str): ``'exp'`` (default, O(A) per class), ``'sigmoid'``, ``'logistic'``.
        mining (str): ``'group'`` (default), ``'ohem'`` or ``'none'``, per class.
        ohem_ratio (int): OHEM negatives per positive of the class (paper: 3).
        num_groups (int): score bins per class for group mining (paper: 3).
        reweight (bool): dynamic re-weighting z_c (default); False: mean over pairs.
        from_logits (bool): ``cls_scores`` are logits; f = sigmoid(logit).

    Returns:
        Tensor[] (Tensor[B] for a batch): the mean over contributing classes; 0 that still
        backpropagates to ``cls_scores`` when no class has both positives and negatives.

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
    loss = batched_class_ranking_loss(select_scores(cls_scores, labels, from_logits),
                                      rank_fn=rank_fn, mining=mining, ohem_ratio=ohem_ratio,
                                      num_groups=num_groups, reweight=reweight)
    return loss[0] if single else loss
