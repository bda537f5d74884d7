"""The anchors of an mmdet dense head as ranking samples: all levels of an image at once.

Liu et al., "RankDetNet: Delving into Ranking Constraints for Object Detection", CVPR 2021.
The global (Eq. 2) and class-specific (Eq. 4) losses pair anchors across all pyramid
levels of an image, and the IoU-guided loss (Eq. 6) and the P-P ratio of Table 3 need
the IoU of each positive's decoded box with its ground truth. mmdet computes targets
and losses level by level; these functions take mmdet's own targets (the head's
inherited ``get_anchors`` / ``get_targets``) and flatten them, with the network
outputs, into one ``[N, A, ...]`` problem, ``A`` counting the anchors of all levels of
an image in mmdet's order (level, then row, column, base anchor).

Used by the ranking heads' losses and by the pair analysis (rankdet.analysis), for the
focal baselines as well: one implementation of the samples that are ranked.
"""
from typing import List, NamedTuple, Optional, Union

import torch
from mmdet.models.dense_heads import AnchorHead, ATSSHead
from mmdet.models.utils import images_to_levels
from mmdet.structures.bbox import bbox_overlaps, cat_boxes, get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from ..common.levels import flatten_levels, level_index


class LevelTargets(NamedTuple):
    """mmdet's targets of a batch, per level (``images_to_levels`` layout)."""

    anchors: List[Tensor]  # per level: [N, A_l, 4], x1y1x2y2
    labels: List[Tensor]  # per level: [N, A_l], 0..C-1 positive, C background
    label_weights: List[Tensor]  # per level: [N, A_l], 0 marks an ignored anchor
    bbox_targets: List[Tensor]  # per level: [N, A_l, 4], deltas or boxes (reg_decoded_bbox)
    bbox_weights: List[Tensor]  # per level: [N, A_l, 4]
    avg_factor: Union[int, float]  # mmdet's loss normaliser (positives for focal heads)


class RankingSamples(NamedTuple):
    """The anchors of a batch as ranking samples, all levels of an image together."""

    logits: Tensor  # [N, A, C] class logits; confidence f = sigmoid(logit)
    labels: Tensor  # [N, A]: 0..C-1 positive, C background
    weights: Tensor  # [N, A]: label weights; 0 marks an ignored anchor
    ious: Optional[Tensor]  # [N, A]: IoU at positives (differentiable), 0 elsewhere
    levels: Tensor  # [N, A]: pyramid level of each anchor

    def labels_with_ignored(self) -> Tensor:
        """Tensor[N, A]: ``labels`` with ignored anchors set to -1."""
        return self.labels.masked_fill(self.weights <= 0, -1)


def level_targets(head: AnchorHead, cls_scores: List[Tensor],
                  batch_gt_instances: InstanceList, batch_img_metas: List[dict],
                  batch_gt_instances_ignore: OptInstanceList = None) -> LevelTargets:
    """The head's own anchors and targets (its ``get_anchors`` / ``get_targets``).

    Args:
        head (AnchorHead): an mmdet anchor head with a ``train_cfg`` (its assigner);
            ATSSHead and its subclasses return their anchors with the targets.
        cls_scores (list[Tensor[N, K * C, H_l, W_l]]): class logits of each level (only
            their sizes and device are read).
        batch_gt_instances (list[InstanceData]): ``bboxes`` and ``labels`` per image.
        batch_img_metas (list[dict]): image meta information.
        batch_gt_instances_ignore (list[InstanceData], optional): ignored boxes.
    """
    featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
    anchor_list, valid_flag_list = head.get_anchors(
        featmap_sizes, batch_img_metas, device=cls_scores[0].device)
    num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
    targets = head.get_targets(anchor_list, valid_flag_list, batch_gt_instances,
                               batch_img_metas,
                               batch_gt_instances_ignore=batch_gt_instances_ignore)
    if isinstance(head, ATSSHead):  # ATSS returns its anchors first
        return LevelTargets(*targets)
    anchors = images_to_levels([cat_boxes(a) for a in anchor_list], num_level_anchors)
    return LevelTargets(anchors, *targets)


def positive_ious(head: AnchorHead, anchors: Tensor, bbox_preds: Tensor,
                  bbox_targets: Tensor, positive: Tensor) -> Tensor:
    """IoU of each positive's decoded box with its ground truth: s(p) of Eq. (6)
    (docs/method.md section 5).

    Args:
        head (AnchorHead): gives ``bbox_coder`` and ``reg_decoded_bbox``.
        anchors (Tensor[N, A, 4]): anchors, x1y1x2y2.
        bbox_preds (Tensor[N, A, 4]): predicted deltas.
        bbox_targets (Tensor[N, A, 4]): encoded target deltas, or ground-truth boxes
            when ``head.reg_decoded_bbox``.
        positive (Tensor[N, A]): bool, the anchors that are positives.

    Returns:
        Tensor[N, A]: the axis-aligned IoU at positives, differentiable with respect to
        ``bbox_preds``; 0 elsewhere.
    """
    # in float32 even under mixed precision: IoUs of near-equal boxes differ by little
    pos_anchors = anchors[positive].float()  # [P, 4]
    pred_boxes = get_box_tensor(
        head.bbox_coder.decode(pos_anchors, bbox_preds[positive].float()))
    gt_boxes = bbox_targets[positive].float()  # [P, 4]
    if not head.reg_decoded_bbox:
        # targets are deltas from the same anchor: decoding returns the ground truth, as
        # PAAHead does for its IoU targets
        gt_boxes = get_box_tensor(head.bbox_coder.decode(pos_anchors, gt_boxes))
    pos_ious = bbox_overlaps(pred_boxes, gt_boxes, is_aligned=True)  # [P]
    return pos_ious.new_zeros(positive.shape).masked_scatter(positive, pos_ious)


def ranking_samples(head: AnchorHead, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                    targets: LevelTargets, with_ious: bool = True) -> RankingSamples:
    """The head's outputs and targets as one ranking problem per image.

    Args:
        head (AnchorHead): the head that produced the outputs.
        cls_scores (list[Tensor[N, K * C, H_l, W_l]]): class logits of each level.
        bbox_preds (list[Tensor[N, K * 4, H_l, W_l]]): box deltas of each level.
        targets (LevelTargets): the head's targets for them (:func:`level_targets`).
        with_ious (bool): compute the IoU of positives (decodes their boxes).
    """
    logits = flatten_levels(cls_scores, head.cls_out_channels)  # [N, A, C]
    labels = torch.cat(targets.labels, dim=1)  # [N, A]
    weights = torch.cat(targets.label_weights, dim=1)  # [N, A]
    levels = level_index([a.size(1) for a in targets.anchors], logits.device)
    levels = levels.expand(logits.size(0), -1)  # [N, A]
    ious = None
    if with_ious:
        positive = (labels >= 0) & (labels < head.num_classes) & (weights > 0)
        ious = positive_ious(head, torch.cat(targets.anchors, dim=1),
                             flatten_levels(bbox_preds, head.bbox_coder.encode_size),
                             torch.cat(targets.bbox_targets, dim=1), positive)
    return RankingSamples(logits, labels, weights, ious, levels)
