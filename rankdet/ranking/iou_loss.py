"""IoU-guided ranking loss, Eq. (6) of RankDetNet (CVPR 2021): confidence order follows
localisation order among positives.

    L = L_rank(-alpha * (f(p_i) - f(p_j)) * (s(p_i) - s(p_j)))                       (Eq. 6)

over pairs of positives with the same class on the same pyramid level (Table 4: separate
levels beat merged ones), where s(p) is the IoU of p's decoded box with its ground truth.

IoU BP rule (Sec. 3.3, Table 4): in each pair the IoU of the sample with the LOWER
confidence is detached, so the loss cannot fall by worsening a box; both confidences and
the other IoU keep their gradients. ``iou_bp='none'`` detaches both IoUs (Table 4, Exp. 5
and 6) and ``'both'`` detaches neither (Exp. 8). On a confidence tie the gradient to either
IoU is zero.

Decisions where the paper is silent: each unordered pair {i, j}, i != j, counts once
(L is symmetric in i, j and the i = j terms are the constant L(0)); no dynamic
re-weighting; the loss of an image is the mean over all its pairs, pooled over its classes
and levels (docs/method.md section 5).

Score space (an extension): with ``score_space='logit'`` f is the positive's logit, as in
the other two terms (one meaning for all enabled terms of ``RankingLoss``). The order of
the confidences, and so the IoU BP rule, is the same in both spaces; the logit gap is
unbounded, so ``exp`` of it can be large: pair logit space with ``rank_fn='logistic'``.
"""
from typing import Optional

import torch
from torch import Tensor

from .chunking import chunked_sum
from .padding import pad_by_group
from .pairwise import MAX_CHUNK_PAIRS
from .rank_functions import get_rank_function
from .validation import SCORE_SPACES, check_choice, check_scores, check_shape

IOU_BP_MODES = ('lower_detached', 'none', 'both')


def check_level_labels(values: Tensor, name: str, size: int) -> None:
    """Raise ValueError unless ``values`` is a Tensor[size] of non-negative integers."""
    check_shape(values, name, [size], f'Tensor[{size}] (one per positive)')
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
        raise ValueError(f'{name} must hold integers, got dtype {values.dtype}')
    if values.numel() > 0 and values.min().item() < 0:
        raise ValueError(f'{name} must be >= 0, found {values.min().item()}')


def batched_iou_ranking_loss(pos_scores: Tensor, pos_ious: Tensor, pos_groups: Tensor,
                             pos_images: Tensor, num_images: int, alpha: float = 1.0,
                             rank_fn: str = 'exp', iou_bp: str = 'lower_detached',
                             max_chunk_pairs: int = MAX_CHUNK_PAIRS) -> Tensor:
    """Eq. (6) per image, unvalidated; see iou_ranking_loss.

    Args:
        pos_scores (Tensor[P]), pos_ious (Tensor[P]): f and s of the positives.
        pos_groups (Tensor[P]): int64 pairing key; pairs form within one key only.
        pos_images (Tensor[P]): int64 image of each positive; keys never span images.
        num_images (int): B.

    Returns:
        Tensor[B]: the mean over the pairs of each image (0, in the graph, without pairs).
    """
    rank = get_rank_function(rank_fn)
    zero = 0 * (pos_scores.sum() + pos_ious.sum())
    if pos_scores.numel() < 2:
        return pos_scores.new_zeros(num_images) + zero
    keys, group = torch.unique(pos_groups, return_inverse=True)
    num_groups = keys.numel()
    group_image = pos_images.new_zeros(num_groups).scatter(0, group, pos_images)  # [G]
    (f, s), mask = pad_by_group(group, num_groups, pos_scores, pos_ious)  # [G, L]
    slot = torch.arange(f.shape[1], device=f.device).expand_as(f)  # [G, L]

    def pair_sums(f_i, s_i, mask_i, slot_i, f_j, s_j, mask_j, slot_j):
        f_i, s_i, f_j, s_j = f_i[:, :, None], s_i[:, :, None], f_j[:, None, :], s_j[:, None, :]
        if iou_bp == 'lower_detached':
            i_lower = (f_i < f_j).detach()  # [G, l, L]
            s_i = torch.where(i_lower, s_i.detach(), s_i)
            s_j = torch.where(i_lower, s_j, s_j.detach())
        elif iou_bp == 'none':
            s_i, s_j = s_i.detach(), s_j.detach()
        terms = rank(-alpha * (f_i - f_j) * (s_i - s_j))  # [G, l, L]
        valid = (mask_i[:, :, None] & mask_j[:, None, :]
                 & (slot_i[:, :, None] < slot_j[:, None, :]))  # each unordered pair once
        return terms.masked_fill(~valid, 0).sum((1, 2))  # [G]

    chunk = max(1, max_chunk_pairs // max(1, num_groups * f.shape[1]))
    group_sums = chunked_sum(pair_sums, [f, s, mask, slot], [f, s, mask, slot], dim=1,
                             chunk_size=chunk)  # [G]
    size = mask.sum(1)
    group_pairs = (size * (size - 1) // 2).to(f.dtype)  # [G]
    total = f.new_zeros(num_images).index_add(0, group_image, group_sums)
    pairs = f.new_zeros(num_images).index_add(0, group_image, group_pairs)
    return total / pairs.clamp(min=1) + zero


def iou_ranking_loss(pos_scores: Tensor, pos_ious: Tensor, pos_labels: Tensor,
                     pos_levels: Optional[Tensor] = None, alpha: float = 1.0,
                     rank_fn: str = 'exp', iou_bp: str = 'lower_detached',
                     pos_images: Optional[Tensor] = None,
                     num_images: Optional[int] = None, score_space: str = 'prob') -> Tensor:
    """IoU-guided ranking loss of the positives of one image (or of a batch), Eq. (6).

        loss = mean_{i<j, same class and level} L_rank(-alpha (f_i - f_j)(s_i - s_j))

    Args:
        pos_scores (Tensor[P]): confidences f in [0, 1] of the positives (their GT class);
            any finite logits with ``score_space='logit'``.
        pos_ious (Tensor[P]): IoU s in [0, 1] of each positive's decoded box with its
            assigned ground truth, differentiable through the regression branch.
        pos_labels (Tensor[P]): int class of each positive.
        pos_levels (Tensor[P], optional): int pyramid level; None: one level ('merge').
        alpha (float): the scale alpha > 0 (paper: 1.0).
        rank_fn (str): ``'exp'`` (default), ``'sigmoid'`` or ``'logistic'``.
        iou_bp (str): ``'lower_detached'`` (the paper's rule, default), ``'none'`` (both
            IoUs detached) or ``'both'`` (neither detached).
        pos_images (Tensor[P], optional): int image of each positive, for a batch.
        num_images (int, optional): B, required with ``pos_images``.
        score_space (str): ``'prob'`` (default) or ``'logit'``: what ``pos_scores`` hold.

    Returns:
        Tensor[] (Tensor[B] with ``pos_images``): mean over pairs; 0 that still
        backpropagates to both inputs where there is no pair.

    Raises:
        ValueError: shapes differ, a score or IoU outside [0, 1] / NaN / inf, negative
            labels or levels, alpha <= 0, unknown ``rank_fn``, ``iou_bp`` or
            ``score_space``.
    """
    get_rank_function(rank_fn)
    check_choice(iou_bp, 'iou_bp', IOU_BP_MODES)
    check_choice(score_space, 'score_space', SCORE_SPACES)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f'alpha must be a number > 0, got {alpha!r}')
    check_shape(pos_scores, 'pos_scores', [None], 'Tensor[P]')
    num_pos = pos_scores.shape[0]
    check_shape(pos_ious, 'pos_ious', [num_pos], f'Tensor[{num_pos}] like pos_scores')
    check_scores(pos_scores, 'pos_scores', from_logits=score_space == 'logit')
    check_scores(pos_ious, 'pos_ious')
    check_level_labels(pos_labels, 'pos_labels', num_pos)
    if pos_levels is None:
        pos_levels = torch.zeros_like(pos_labels)
    check_level_labels(pos_levels, 'pos_levels', num_pos)
    single = pos_images is None
    if single:
        pos_images, num_images = torch.zeros_like(pos_labels), 1
    else:
        check_level_labels(pos_images, 'pos_images', num_pos)
        if not isinstance(num_images, int) or num_images < 1 or (
                num_pos > 0 and pos_images.max().item() >= num_images):
            raise ValueError(f'num_images must be an int above every pos_images entry, '
                             f'got {num_images!r}')
    pos_labels, pos_levels, pos_images = (t.long() for t in (pos_labels, pos_levels,
                                                             pos_images))
    num_labels = int(pos_labels.max().item()) + 1 if num_pos else 1
    num_levels = int(pos_levels.max().item()) + 1 if num_pos else 1
    groups = (pos_images * num_labels + pos_labels) * num_levels + pos_levels
    loss = batched_iou_ranking_loss(pos_scores, pos_ious, groups, pos_images, num_images,
                                    alpha=float(alpha), rank_fn=rank_fn, iou_bp=iou_bp)
    return loss[0] if single else loss
