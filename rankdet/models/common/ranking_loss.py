"""RankingLoss: RankDetNet's three ranking losses as one mmdet classification loss.

Liu et al., "RankDetNet: Delving into Ranking Constraints for Object Detection", CVPR 2021.
The maths lives in :mod:`rankdet.ranking` (plain PyTorch); this module stores the
configuration, checks the head's tensors once, and reduces the per-image losses. Plain
torch: 2D heads and SA-SSD's heads share it; :mod:`rankdet.models.losses` registers it in
mmdet's and mmdet3d's ``MODELS`` (``type='RankingLoss'`` in both).
docs/method.md: the terms (sections 2-5), this module's arguments (section 6), Table 4
(section 7) and the extensions (section 8).
"""
from typing import Dict, Optional, Union

import torch
from torch import Tensor, nn

from rankdet.ranking import IOU_BP_MODES, iou_ranking_loss
from rankdet.ranking.class_loss import batched_class_ranking_loss
from rankdet.ranking.global_loss import batched_global_ranking_loss
from rankdet.ranking.mining import check_mining_args
from rankdet.ranking.rank_functions import get_rank_function
from rankdet.ranking.selection import ScoreSelection, select_scores
from rankdet.ranking.validation import (CLASS_REDUCTIONS, GROUP_WEIGHTINGS, SCORE_SPACES,
                                        check_choice, check_labels, check_scores,
                                        check_shape)
from .image_divisor import num_images_with_positives

REDUCTIONS = ('none', 'mean', 'sum')
IOU_LEVEL_MODES = ('separate', 'merge')


class RankingLoss(nn.Module):
    """Global (Eq. 2), class-specific (Eq. 4) and IoU-guided (Eq. 6) ranking losses.

    Replaces a dense head's focal ``loss_cls``. Every switch of Table 4 is an argument,
    so each row of the ablation is a config in ``configs2d/ablation/`` (arguments beside
    the defaults; docs/method.md section 7, section 5 for the IoU-BP column; paper AP,
    RetinaNet R50)::

        (1)  use_class=False, use_iou=False, mining='ohem'        global only         34.2
        (2)  use_global=False, use_iou=False, mining='ohem'       class-specific only 32.7
        (3)  use_iou=False, mining='ohem'                         global + class      36.6
        (4)  use_global=False, use_class=False                    IoU-guided, beside  36.2
             the head's focal ``loss_pointwise`` (no mining: the IoU term mines nothing)
        (5)  iou_levels='merge', iou_bp='none', mining='ohem'     IoUs frozen, merged 36.7
        (6)  iou_bp='none', mining='ohem'                         IoUs frozen         37.0
        (7)  dynamic_reweight=False, mining='ohem'                no re-weighting z   36.6
        (8)  iou_bp='both', mining='ohem'                         both IoUs trained   35.4
        (9)  mining='ohem'                                        the IoU BP rule     37.3
        (10) (defaults)                                           group mining        37.8

    e.g. ``loss_cls=dict(_delete_=True, type='RankingLoss', mining='ohem')``.

    Extensions beyond the paper, each a switch whose default is the paper's behaviour:
    ``class_reduction='mean'`` (the old mean over classes), ``group_weighting='size'``
    (a mined bin counts as its members), ``score_space='logit'`` (rank logits, with
    ``rank_fn='logistic'``), and the head's ``loss_pointwise`` (focal loss beside all
    three ranking terms, ``configs2d/retinanet/rank-focal-retinanet_r50_fpn_1x_coco.py``).

    Args:
        use_global, use_class, use_iou (bool): which terms to compute (all by default).
        loss_weight_global, loss_weight_class, loss_weight_iou (float): term weights
            (paper: 1:1:1, plus 1 for the head's regression loss).
        rank_fn (str): L_rank, ``'exp'`` (default), ``'sigmoid'`` or ``'logistic'``.
        mining (str): negative mining of the global and class-specific losses,
            ``'group'`` (default, Table 4 best), ``'ohem'`` or ``'none'``.
        ohem_ratio (int): OHEM negatives per positive (3).
        global_groups (int): score bins of group mining in the global loss (15).
        class_groups (int): score bins per class in the class-specific loss (3).
        iou_levels (str): ``'separate'`` (default): IoU pairs only within a pyramid
            level; ``'merge'``: across levels.
        iou_bp (str): ``'lower_detached'`` (default, the paper's rule), ``'none'`` (both
            IoUs detached) or ``'both'`` (neither detached).
        alpha (float): alpha of Eq. (6) (1.0).
        dynamic_reweight (bool): the re-weighting z of Eq. (3)/(5) (True); False averages
            L_rank over pairs (Table 4, Exp. 7).
        reduction (str): ``'mean'`` (default): sum over images / ``avg_factor``;
            ``'sum'``; ``'none'``: per-image losses ``Tensor[B]``.
        class_reduction (str): how the class-specific term combines an image's classes:
            ``'sum'`` (default, Eq. 4) or ``'mean'`` over the classes with pairs (weaker
            by the number of classes per image).
        group_weighting (str): with group mining, ``'bin'`` (default, the paper: each
            non-empty bin is one negative) or ``'size'`` (each bin counts as its number of
            members, as if its mean were repeated that often; no effect with ``'ohem'``
            or ``'none'`` mining, whose negatives are single samples).
        score_space (str): what all enabled terms compare: ``'prob'`` (default, the
            paper: f = sigmoid(logit)) or ``'logit'`` (f = the logit: no flat trap where
            saturated probabilities stop the gradient). In logit space ``exp`` of a
            logit gap can be very large: pair it with ``rank_fn='logistic'``. The IoU BP
            rule's order of confidences is the same in both spaces.

    Flat value: when all compared scores are equal each enabled term's per-image value is
    ``rankdet.ranking.flat_value(rank_fn)`` = L_rank(0) (1 for ``exp``), except the
    class-specific term with ``class_reduction='sum'``: L_rank(0) times the image's
    number of classes with pairs.

    Normalisation: each term is a per-image loss (already a weighted mean over pairs,
    over classes, or over IoU pairs). With ``reduction='mean'`` the terms are summed over
    the batch and divided by ``avg_factor``, by default the number of images with at
    least one positive (at least 1), the paper's mean over such images. For multi-process
    training a head passes the count averaged over processes,
    ``avg_factor = rankdet.models.common.reduced_num_images_with_positives(labels, C,
    weights)``, so each process divides by the global mean count, as mmdet heads do with
    ``num_total_pos``. Note: this is a count of images, not of
    positive anchors; do not pass a head's focal-loss ``avg_factor``.
    """

    def __init__(self, use_global: bool = True, use_class: bool = True, use_iou: bool = True,
                 loss_weight_global: float = 1.0, loss_weight_class: float = 1.0,
                 loss_weight_iou: float = 1.0, rank_fn: str = 'exp', mining: str = 'group',
                 ohem_ratio: int = 3, global_groups: int = 15, class_groups: int = 3,
                 iou_levels: str = 'separate', iou_bp: str = 'lower_detached',
                 alpha: float = 1.0, dynamic_reweight: bool = True,
                 reduction: str = 'mean', class_reduction: str = 'sum',
                 group_weighting: str = 'bin', score_space: str = 'prob') -> None:
        super().__init__()
        for name, value in [('use_global', use_global), ('use_class', use_class),
                            ('use_iou', use_iou), ('dynamic_reweight', dynamic_reweight)]:
            if not isinstance(value, bool):
                raise ValueError(f'RankingLoss: {name} must be True or False, got {value!r}')
        if not (use_global or use_class or use_iou):
            raise ValueError('RankingLoss: use_global, use_class and use_iou are all False; '
                             'enable at least one term')
        for name, value in [('loss_weight_global', loss_weight_global),
                            ('loss_weight_class', loss_weight_class),
                            ('loss_weight_iou', loss_weight_iou)]:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f'RankingLoss: {name} must be a number >= 0, got {value!r}')
        get_rank_function(rank_fn)
        check_mining_args(mining, ohem_ratio, global_groups)
        check_mining_args(mining, ohem_ratio, class_groups)
        check_choice(iou_levels, 'iou_levels', IOU_LEVEL_MODES)
        check_choice(iou_bp, 'iou_bp', IOU_BP_MODES)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f'RankingLoss: alpha must be a number > 0, got {alpha!r}')
        check_choice(reduction, 'reduction', REDUCTIONS)
        check_choice(class_reduction, 'class_reduction', CLASS_REDUCTIONS)
        check_choice(group_weighting, 'group_weighting', GROUP_WEIGHTINGS)
        check_choice(score_space, 'score_space', SCORE_SPACES)
        self.use_global, self.use_class, self.use_iou = use_global, use_class, use_iou
        self.loss_weight_global = float(loss_weight_global)
        self.loss_weight_class = float(loss_weight_class)
        self.loss_weight_iou = float(loss_weight_iou)
        self.rank_fn, self.mining, self.ohem_ratio = rank_fn, mining, ohem_ratio
        self.global_groups, self.class_groups = global_groups, class_groups
        self.iou_levels, self.iou_bp, self.alpha = iou_levels, iou_bp, float(alpha)
        self.dynamic_reweight, self.reduction = dynamic_reweight, reduction
        self.class_reduction, self.group_weighting = class_reduction, group_weighting
        self.score_space = score_space

    # images of the batch with at least one positive (rankdet.models.common.image_divisor)
    num_images_with_positives = staticmethod(num_images_with_positives)

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None, ious: Optional[Tensor] = None,
                levels: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """The enabled ranking losses of a batch.

        Args:
            pred (Tensor[B, A, C]): classification logits of all anchors of all levels of
                each image; f = sigmoid(logit) (f = logit with ``score_space='logit'``).
                Half precision is computed in float32.
            target (Tensor[B, A]): labels, 0..C-1 positive, C background, -1 ignored.
            weight (Tensor[B, A], optional): label weights; anchors with weight <= 0 are
                ignored. Weights only select anchors: a ranking pair has no sample weight.
            avg_factor (float or Tensor, optional): the divisor of ``'mean'``; default the
                number of images with a positive, at least 1.
            reduction_override (str, optional): ``'none'``, ``'mean'`` or ``'sum'``.
            ious (Tensor[B, A], optional): IoU in [0, 1] of each anchor's decoded box with
                its assigned ground truth, differentiable; read at positives only.
                Required when ``use_iou``.
            levels (Tensor[B, A], optional): int pyramid level of each anchor; None: one
                level. Ignored with ``iou_levels='merge'``.

        Returns:
            dict: ``loss_rank_global``, ``loss_rank_class``, ``loss_rank_iou`` (the enabled
            ones), each weighted and reduced: a scalar, or ``Tensor[B]`` for ``'none'``.
            An image without positives adds a zero that still reaches ``pred``.
        """
        reduction = reduction_override if reduction_override else self.reduction
        check_choice(reduction, 'reduction_override', REDUCTIONS)
        if avg_factor is not None and reduction != 'mean':
            raise ValueError(f'RankingLoss: avg_factor can only be used with reduction '
                             f"'mean', got reduction {reduction!r}")
        check_shape(pred, 'pred', [None, None, None], 'Tensor[B, A, C] (logits)')
        num_images, num_anchors, num_classes = pred.shape
        shape_text = f'Tensor[B, A] = {(num_images, num_anchors)} like pred'
        check_shape(target, 'target', [num_images, num_anchors], shape_text)
        check_labels(target, num_classes, 'target')
        check_scores(pred, 'pred', from_logits=True)
        if pred.dtype in (torch.float16, torch.bfloat16):
            pred = pred.float()
        labels = target.long()
        if weight is not None:
            check_shape(weight, 'weight', [num_images, num_anchors], shape_text)
            labels = torch.where(weight > 0, labels, torch.full_like(labels, -1))

        selection = select_scores(pred, labels, from_logits=self.score_space == 'prob')
        common = dict(rank_fn=self.rank_fn, mining=self.mining, ohem_ratio=self.ohem_ratio,
                      reweight=self.dynamic_reweight, group_weighting=self.group_weighting)
        losses = {}
        if self.use_global:
            losses['loss_rank_global'] = self.loss_weight_global * batched_global_ranking_loss(
                selection, num_groups=self.global_groups, **common)
        if self.use_class:
            losses['loss_rank_class'] = self.loss_weight_class * batched_class_ranking_loss(
                selection, num_groups=self.class_groups,
                class_reduction=self.class_reduction, **common)
        if self.use_iou:
            losses['loss_rank_iou'] = self.loss_weight_iou * self._iou_loss(
                selection, ious, levels, shape_text)

        if reduction == 'none':
            return losses
        if reduction == 'sum':
            return {name: loss.sum() for name, loss in losses.items()}
        if avg_factor is None:
            avg_factor = self.num_images_with_positives(labels, num_classes).clamp(min=1)
        else:  # as mmdet's weight_reduce_loss: a reduced count may be 0 on every process
            avg_factor = avg_factor + torch.finfo(torch.float32).eps
        return {name: loss.sum() / avg_factor for name, loss in losses.items()}

    def _iou_loss(self, selection: ScoreSelection, ious: Optional[Tensor],
                  levels: Optional[Tensor], shape_text: str) -> Tensor:
        """Per-image IoU-guided loss, Tensor[B], over the positives of each image."""
        if ious is None:
            raise ValueError('RankingLoss: ious (Tensor[B, A], the IoU of each anchor\'s '
                             'decoded box with its assigned ground truth) is required when '
                             'use_iou=True')
        labels = selection.labels
        check_shape(ious, 'ious', list(labels.shape), shape_text)
        image, anchor = selection.pos_image, selection.pos_anchor
        pos_levels = None
        if levels is not None and self.iou_levels == 'separate':
            check_shape(levels, 'levels', list(labels.shape), shape_text)
            pos_levels = levels[image, anchor]
        pos_scores = selection.pos_scores
        pos_ious = ious[image, anchor].to(pos_scores.dtype)
        check_scores(pos_ious, 'ious (at positive anchors)')
        return iou_ranking_loss(pos_scores, pos_ious, selection.pos_label, pos_levels,
                                alpha=self.alpha, rank_fn=self.rank_fn, iou_bp=self.iou_bp,
                                pos_images=image, num_images=labels.shape[0],
                                score_space=self.score_space)
