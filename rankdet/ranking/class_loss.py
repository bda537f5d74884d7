"""Class-specific ranking loss, Eq. (4)-(5) of RankDetNet (CVPR 2021): positives of class
c above the negatives for c.

    L_class = sum_c sum_{n in N_c} sum_{p in P_c} z_c(n,p) * L_rank(f_c(n) - f_c(p))   (Eq. 4)

For each class c with a positive in the image: P_c, the samples assigned to c; N_c, every
other non-ignored sample (background and other classes), mined per class; all scored by
their confidence f_c for class c. Each class has its own re-weighting z_c (Eq. 5); the
image's loss is the SUM over the classes that have both positives and negatives, as Eq. (4)
writes it (docs/method.md section 3), so each class's term keeps the paper's 1:1:1 balance
with the global and IoU-guided terms. ``class_reduction='mean'`` divides by the number of
those classes instead (an earlier reading, kept as a switch): it weakens the term by the
number of classes in the image.

All (image, class) problems of a batch are solved at once: ``K = sum_b |classes in b|``.
"""
from torch import Tensor

from .global_loss import check_group_weighting, check_scores_and_labels
from .mining import batched_mine_negatives, check_mining_args
from .padding import pad_by_group
from .pairwise import MAX_CHUNK_PAIRS, batched_pairwise_rank_loss
from .rank_functions import get_rank_function
from .selection import ScoreSelection, select_scores
from .validation import CLASS_REDUCTIONS, check_choice


def batched_class_ranking_loss(selection: ScoreSelection, rank_fn: str = 'exp',
                               mining: str = 'group', ohem_ratio: int = 3,
                               num_groups: int = 3, reweight: bool = True,
                               max_chunk_pairs: int = MAX_CHUNK_PAIRS,
                               class_reduction: str = 'sum',
                               group_weighting: str = 'bin') -> Tensor:
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
    neg, neg_mask, counts = batched_mine_negatives(
        sel.columns, neg_mask, pos_mask.sum(1), mining, ratio=ohem_ratio,
        num_groups=num_groups, with_counts=True)
    per_class = batched_pairwise_rank_loss(
        pos, pos_mask, neg, neg_mask, rank_fn=rank_fn, reweight=reweight,
        max_chunk_pairs=max_chunk_pairs,
        neg_weight=counts if group_weighting == 'size' else None)  # [K]
    total = per_class.new_zeros(num_images).index_add(0, sel.problem_image, per_class)
    if class_reduction == 'sum':  # Eq. (4); a class without pairs adds its 0
        return total
    contributed = (pos_mask.any(1) & neg_mask.any(1)).to(per_class.dtype)  # [K]
    count = per_class.new_zeros(num_images).index_add(0, sel.problem_image, contributed)
    return total / count.clamp(min=1)


def class_ranking_loss(cls_scores: Tensor, labels: Tensor, rank_fn: str = 'exp',
                       mining: str = 'group', ohem_ratio: int = 3, num_groups: int = 3,
                       reweight: bool = True, from_logits: bool = False,
                       class_reduction: str = 'sum', group_weighting: str = 'bin',
                       score_space: str = 'prob') -> Tensor:
    """Class-specific ranking loss of one image (or each image of a batch), Eq. (4)-(5).

        loss = sum_c sum_{n in N_c, p in P_c} z_c(n,p) * L_rank(f_c(n) - f_c(p))

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
        class_reduction (str): ``'sum'`` (default, Eq. 4) over the image's classes, or
            ``'mean'`` over the classes that have both positives and negatives.
        group_weighting (str): ``'bin'`` (default, the paper) or ``'size'`` (a mined bin
            counts as its number of members); see :mod:`rankdet.ranking.mining`.
        score_space (str): ``'prob'`` (default, f = sigmoid(logit)) or ``'logit'`` (f =
            the logit; needs ``from_logits=True``).

    Returns:
        Tensor[] (Tensor[B] for a batch): the sum (or mean) over contributing classes; 0
        that still backpropagates to ``cls_scores`` when no class has both positives and
        negatives.

    Raises:
        ValueError: bad shapes, scores outside [0, 1] / NaN / inf, labels outside
            -1..C, unknown ``rank_fn``, ``mining``, ``class_reduction``,
            ``group_weighting`` or ``score_space``.
    """
    get_rank_function(rank_fn)
    check_mining_args(mining, ohem_ratio, num_groups)
    check_choice(class_reduction, 'class_reduction', CLASS_REDUCTIONS)
    check_group_weighting(group_weighting)
    check_scores_and_labels(cls_scores, labels, from_logits, score_space)
    single = cls_scores.dim() == 2
    if single:
        cls_scores, labels = cls_scores[None], labels[None]
    selection = select_scores(cls_scores, labels, from_logits and score_space == 'prob')
    loss = batched_class_ranking_loss(selection, rank_fn=rank_fn, mining=mining,
                                      ohem_ratio=ohem_ratio, num_groups=num_groups,
                                      reweight=reweight, class_reduction=class_reduction,
                                      group_weighting=group_weighting)
    return loss[0] if single else loss
