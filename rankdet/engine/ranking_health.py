"""Training-health statistics of a detector head's classification, in plain PyTorch.

What :class:`rankdet.engine.RankingHealthHook` logs, computed from the tensors the head
already has at a training step (its class logits and its own targets), so that no extra
forward pass is needed:

- ``pos_score_mean``: the mean confidence f = sigmoid(logit) of the positives for their
  ground-truth class;
- ``bg_above``: the share of background anchors whose highest class confidence is above a
  threshold (0.2 by default): the bulk of negatives drifting up;
- the flat values of RankDetNet's ranking terms (Liu et al., CVPR 2021, Eq. 2, 4 and 6)
  for a batch: what each term equals when all compared scores are equal. A run whose
  terms stay there has stopped ranking anything (the saturation trap: every confidence
  in the flat region of the sigmoid, every pair difference 0, no gradient).

Labels follow mmdet: 0..C-1 positive, C background, -1 (or a label weight of 0) ignored.
"""
from typing import Dict, Optional, Union

import torch
from torch import Tensor

__all__ = ['score_counts', 'score_statistics', 'flat_term_values', 'term_deviation',
           'rank_flat_value', 'RANKING_TERMS']

#: the loss names of RankingLoss's terms and the switch that enables each
RANKING_TERMS = {'loss_rank_global': 'use_global', 'loss_rank_class': 'use_class',
                 'loss_rank_iou': 'use_iou'}
_TERM_WEIGHTS = {'loss_rank_global': 'loss_weight_global',
                 'loss_rank_class': 'loss_weight_class', 'loss_rank_iou': 'loss_weight_iou'}


def rank_flat_value(rank_fn: str) -> float:
    """L_rank(0): the value of one ranking pair whose two scores are equal (1 for exp)."""
    try:
        from rankdet.ranking import flat_value
    except ImportError:  # a ranking core without the helper: the same number
        from rankdet.ranking.rank_functions import get_rank_function
        return float(get_rank_function(rank_fn)(torch.zeros((), dtype=torch.float64)))
    return flat_value(rank_fn)


def _valid_labels(labels: Tensor, weights: Optional[Tensor]) -> Tensor:
    """``labels`` as int64 with anchors of weight <= 0 set to -1 (ignored)."""
    labels = labels.long()
    if weights is not None:
        if weights.dim() == labels.dim() + 1:  # per-class label weights: any class counts
            weights = weights.amax(-1)
        labels = labels.masked_fill(weights.reshape(labels.shape) <= 0, -1)
    return labels


@torch.no_grad()
def score_counts(logits: Tensor, labels: Tensor, weights: Optional[Tensor] = None,
                 bg_threshold: float = 0.2) -> Tensor:
    """Sums from which :func:`score_statistics` makes the health statistics.

    Counts of several calls add up (a focal head computes its loss level by level), and
    nothing here waits for the device: the numbers stay on it until read.

    Args:
        logits (Tensor[..., C]): class logits (sigmoid scoring, C classes, no background
            column), e.g. ``[B, A, C]`` or ``[M, C]``.
        labels (Tensor[...]): ``logits.shape[:-1]``; 0..C-1 positive, C background, -1
            ignored.
        weights (Tensor[...] or Tensor[..., C], optional): label weights; <= 0 ignores.
        bg_threshold (float): the confidence a background anchor is counted above.

    Returns:
        Tensor[4] (float64): the sum of the positives' confidences for their class, the
        number of positives, the number of background anchors whose highest class
        confidence is above ``bg_threshold``, the number of background anchors.
    """
    num_classes = logits.shape[-1]
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f'score_counts: labels must have the shape of logits without its '
                         f'class dimension, {tuple(logits.shape[:-1])}, got '
                         f'{tuple(labels.shape)}')
    logits = logits.detach().reshape(-1, num_classes)  # [M, C]
    labels = _valid_labels(labels, weights).reshape(-1)  # [M]
    positive = (labels >= 0) & (labels < num_classes)
    background = labels == num_classes
    # masked sums rather than boolean indexing: no wait for the device's count
    own = logits.gather(1, labels.clamp(0, num_classes - 1)[:, None])[:, 0]  # [M]
    pos_sum = (own.float().sigmoid() * positive).sum(dtype=torch.float64)
    # sigmoid is increasing: the highest confidence is the sigmoid of the highest logit
    above = logits.amax(1).float().sigmoid() > bg_threshold  # [M]
    return torch.stack([pos_sum, positive.sum(dtype=torch.float64),
                        (above & background).sum(dtype=torch.float64),
                        background.sum(dtype=torch.float64)])


def score_statistics(counts: Tensor) -> Dict[str, float]:
    """``pos_score_mean`` and ``bg_above`` from :func:`score_counts` (reads the device).

    A statistic without anchors to average over (no positive, or no background anchor,
    in the batch) is left out rather than given a NaN.
    """
    pos_sum, num_pos, bg_above, num_bg = counts.tolist()
    stats = {}
    if num_pos > 0:
        stats['pos_score_mean'] = pos_sum / num_pos
    if num_bg > 0:
        stats['bg_above'] = bg_above / num_bg
    return stats


@torch.no_grad()
def flat_term_values(loss, target: Tensor, weight: Optional[Tensor] = None,
                     levels: Optional[Tensor] = None,
                     avg_factor: Optional[Union[float, Tensor]] = None,
                     reduction_override: Optional[str] = None,
                     num_classes: Optional[int] = None) -> Dict[str, Tensor]:
    """Each enabled ranking term's value for this batch if all its scores were equal.

    With all compared scores equal every pair term is L_rank(0) (:func:`rank_flat_value`),
    and so is every weighted mean of pairs; an image contributes it to

    - the global loss (Eq. 2) if it has a positive and a background anchor;
    - the class-specific loss (Eq. 4) once per class that has a positive and a negative
      (another non-ignored anchor), with ``class_reduction='sum'``; once if any class
      does, with ``'mean'``;
    - the IoU-guided loss (Eq. 6) if it has an IoU pair: two positives of one class (on
      one pyramid level with ``iou_levels='separate'``);

    and 0 otherwise. Each term is then weighted and reduced over the images exactly as
    :class:`rankdet.models.common.RankingLoss` reduces it. The result is exact, so a term
    that stays within a small tolerance of it is flat, whatever the batch's classes,
    objects and reduction.

    Args:
        loss: the ``RankingLoss`` (its switches are read: ``use_*``, ``loss_weight_*``,
            ``rank_fn``, ``reduction``, ``class_reduction``, ``iou_levels``).
        target (Tensor[B, A]), weight (Tensor[B, A], optional), levels (Tensor[B, A],
        optional), avg_factor, reduction_override: the arguments of that call of
            ``RankingLoss.forward``.
        num_classes (int): C, the class dimension of the call's ``pred``.

    Returns:
        dict: the enabled ``loss_rank_*`` names, each a float64 scalar (``Tensor[B]`` for
        ``reduction='none'``), shaped as the loss returns them.
    """
    if num_classes is None:
        raise ValueError('flat_term_values: num_classes (C of pred [B, A, C]) is required')
    reduction = reduction_override or loss.reduction
    # a few bool maps of [B, A] and counts over the (few) positives: this runs at every
    # iteration, so no [B, A] integer copy is made
    labels = target if target.dtype == torch.long else target.long()  # [B, A]
    num_images = labels.shape[0]
    valid = labels >= 0
    if weight is not None:
        valid &= weight > 0
    positive = valid & (labels < num_classes)  # [B, A]
    num_valid = valid.sum(1)  # [B]
    has_bg = (valid & (labels == num_classes)).any(1)  # [B]
    pos_image, pos_anchor = positive.nonzero(as_tuple=True)  # [P]
    pos_label = labels[pos_image, pos_anchor]  # [P]
    class_pos = torch.bincount(pos_image * num_classes + pos_label,
                               minlength=num_images * num_classes).view(num_images, -1)
    has_pos = class_pos.sum(1) > 0  # [B]

    units = {}
    if loss.use_global:
        units['loss_rank_global'] = has_pos & has_bg
    if loss.use_class:
        with_pairs = (class_pos > 0) & (num_valid[:, None] - class_pos > 0)  # [B, C]
        # a RankingLoss older than class_reduction averaged over classes
        if getattr(loss, 'class_reduction', 'mean') == 'sum':
            units['loss_rank_class'] = with_pairs.sum(1)
        else:
            units['loss_rank_class'] = with_pairs.any(1)
    if loss.use_iou:
        if levels is not None and loss.iou_levels == 'separate':
            pos_level = levels.expand_as(labels)[pos_image, pos_anchor].long()  # [P]
            num_levels = int(pos_level.max()) + 1 if pos_level.numel() else 1
            # positives per (image, class, level): a pair needs two in one group
            group = (pos_image * num_classes + pos_label) * num_levels + pos_level
            group_pos = torch.bincount(group, minlength=num_images * num_classes
                                       * num_levels).view(num_images, -1)
        else:
            group_pos = class_pos
        units['loss_rank_iou'] = (group_pos >= 2).any(1)

    flat = rank_flat_value(loss.rank_fn)
    values = {}
    for name, unit in units.items():
        per_image = unit.to(torch.float64) * (flat * getattr(loss, _TERM_WEIGHTS[name]))
        if reduction == 'none':
            values[name] = per_image
        elif reduction == 'sum':
            values[name] = per_image.sum()
        elif avg_factor is None:  # RankingLoss's default divisor: images with a positive
            values[name] = per_image.sum() / has_pos.sum().clamp(min=1)
        else:  # as RankingLoss, which adds float32's eps to a given avg_factor
            divisor = torch.as_tensor(avg_factor, dtype=torch.float64,
                                      device=per_image.device)
            values[name] = per_image.sum() / (divisor + torch.finfo(torch.float32).eps)
    return values


@torch.no_grad()
def term_deviation(losses: Dict[str, Tensor], flat: Dict[str, Tensor]) -> Tensor:
    """The largest distance of any term of ``flat`` from its value in ``losses``.

    Args:
        losses (dict): ``RankingLoss``'s output (scalars, or ``Tensor[B]``).
        flat (dict): :func:`flat_term_values` of the same call.

    Returns:
        Tensor[] (float64): max over terms (and images) of ``|loss - flat|``; ``inf`` if
        a term of ``flat`` is missing from ``losses``.
    """
    gaps = []
    for name, value in flat.items():
        if name not in losses:
            return value.new_tensor(float('inf'))
        gaps.append((losses[name].detach().to(torch.float64) - value).abs().max())
    if not gaps:
        return torch.tensor(float('inf'), dtype=torch.float64)
    return torch.stack(gaps).max()
