"""Reverse-pair ratios of RankDetNet's Table 3: how often a pair is ranked the wrong way
(docs/method.md section 12).

- F-B: a foreground sample (scored by its GT class) below a background one (scored by
  its highest class confidence); over all foreground x background pairs of an image.
- P-N: a positive of class c below a negative for c (any other non-ignored sample),
  both scored by class c; over the pairs of every class present in the image.
- P-P: of two positives of one class, the one with the higher IoU has the lower
  confidence; over the pairs of positives of one class with different IoUs (pairs with
  equal IoUs have no right order and are left out). With ``levels`` only positives on
  the same level pair up; without, all levels pool (Table 3 does not separate them).

Decisions: a pair tied in confidence counts as half a reverse pair, so the F-B and P-N
ratios are ``1 - AUC`` and a constant scorer has ratio 0.5 rather than 0. Ignored
samples (label -1) take no part. All pairs are counted (no mining), by sorting and
binary search for F-B / P-N, O((P + N) log N) instead of P x N.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from .global_loss import check_scores_and_labels
from .padding import pad_by_group
from .selection import select_scores
from .validation import check_scores, check_shape

REVERSE_PAIR_TYPES = ('F-B', 'P-N', 'P-P')


def _count_reverse(pos: Tensor, pos_mask: Tensor, neg: Tensor,
                   neg_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """Pairs (p, n) of each row with f(p) < f(n) (ties half), and all pairs; float64."""
    neg = neg.double().masked_fill(~neg_mask, float('inf'))
    neg_sorted = neg.sort(dim=1).values  # [K, N], real negatives first
    num_neg = neg_mask.sum(1, keepdim=True)  # [K, 1]
    pos = pos.double().contiguous()
    below_or_tied = torch.searchsorted(neg_sorted, pos, right=True)  # [K, Pmax]
    below = torch.searchsorted(neg_sorted, pos, right=False)
    reverse = (num_neg - below_or_tied) + 0.5 * (below_or_tied - below)
    reverse = reverse.masked_fill(~pos_mask, 0).sum()
    total = (pos_mask.sum(1) * num_neg[:, 0]).sum().double()
    return reverse, total


def reverse_pair_counts(cls_scores: Tensor, labels: Tensor, ious: Optional[Tensor] = None,
                        levels: Optional[Tensor] = None,
                        from_logits: bool = False) -> Dict[str, Tuple[Tensor, Tensor]]:
    """Reverse pairs and all pairs of each type of Table 3, to sum over a data set.

    Args:
        cls_scores (Tensor[A, C] or Tensor[B, A, C]): class probabilities in [0, 1]
            (logits with ``from_logits=True``).
        labels (Tensor[A] or Tensor[B, A]): 0..C-1 positives, C background, -1 ignored.
        ious (Tensor[A] or Tensor[B, A], optional): IoU of each sample's box with its
            ground truth, read at positives only; None: no P-P entry.
        levels (Tensor[A] or Tensor[B, A], optional): int pyramid level of each sample.
        from_logits (bool): ``cls_scores`` are logits; f = sigmoid(logit).

    Returns:
        dict: ``{'F-B': (reverse, total), 'P-N': ..., 'P-P': ...}`` as float64 0-dim
        tensors; reverse counts ties in confidence as one half.
    """
    check_scores_and_labels(cls_scores, labels, from_logits)
    if cls_scores.dim() == 2:
        cls_scores, labels = cls_scores[None], labels[None]
        ious = None if ious is None else ious[None]
        levels = None if levels is None else levels[None]
    sel = select_scores(cls_scores.detach(), labels, from_logits)
    num_images = labels.shape[0]

    # F-B: one problem per image
    (pos,), pos_mask = pad_by_group(sel.pos_image, num_images, sel.pos_scores)
    counts = {'F-B': _count_reverse(pos, pos_mask, sel.max_scores,
                                    labels == sel.num_classes)}

    # P-N: one problem per (image, class present)
    (pos,), pos_mask = pad_by_group(sel.pos_problem, sel.problem_image.numel(),
                                    sel.pos_scores)
    problem_labels = labels[sel.problem_image]
    neg_mask = (problem_labels >= 0) & (problem_labels != sel.problem_class[:, None])
    counts['P-N'] = _count_reverse(pos, pos_mask, sel.columns, neg_mask)

    # P-P: pairs within (image, class[, level])
    if ious is not None:
        check_shape(ious, 'ious', list(labels.shape), f'{tuple(labels.shape)} like labels')
        pos_ious = ious.detach()[sel.pos_image, sel.pos_anchor]
        check_scores(pos_ious, 'ious (at positives)')
        group_key = sel.pos_problem
        if levels is not None:
            check_shape(levels, 'levels', list(labels.shape),
                        f'{tuple(labels.shape)} like labels')
            pos_levels = levels[sel.pos_image, sel.pos_anchor].long()
            group_key = group_key * (int(pos_levels.max().item()) + 1 if
                                     pos_levels.numel() else 1) + pos_levels
        _, group = torch.unique(group_key, return_inverse=True)
        num_groups = int(group.max().item()) + 1 if group.numel() else 0
        (f, s), mask = pad_by_group(group, num_groups, sel.pos_scores.double(),
                                    pos_ious.double())
        df = f[:, :, None] - f[:, None, :]  # [G, L, L]
        ds = s[:, :, None] - s[:, None, :]
        ordered = mask[:, :, None] & mask[:, None, :] & (ds > 0)  # i better localised than j
        reverse = ((df < 0).double() + 0.5 * (df == 0).double()).masked_fill(~ordered, 0)
        counts['P-P'] = (reverse.sum(), ordered.sum().double())
    return counts


def reverse_pair_ratios(cls_scores: Tensor, labels: Tensor, ious: Optional[Tensor] = None,
                        levels: Optional[Tensor] = None,
                        from_logits: bool = False) -> Dict[str, float]:
    """The F-B, P-N and P-P reverse-pair ratios of Table 3 (lower is better).

    Arguments as for :func:`reverse_pair_counts`; over a batch, the pairs of all images
    pool. Returns ``{'F-B': ratio, 'P-N': ratio[, 'P-P': ratio]}``; NaN where a type has
    no pair.
    """
    counts = reverse_pair_counts(cls_scores, labels, ious=ious, levels=levels,
                                 from_logits=from_logits)
    return {name: (reverse / total).item() if total > 0 else float('nan')
            for name, (reverse, total) in counts.items()}
