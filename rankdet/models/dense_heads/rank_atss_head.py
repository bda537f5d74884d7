"""RankATSSHead: ATSS's head trained with RankDetNet's ranking losses."""
from typing import List

import torch
from mmdet.models.dense_heads import ATSSHead
from mmdet.models.utils import multi_apply
from mmdet.registry import MODELS
from mmdet.utils import InstanceList, OptInstanceList, reduce_mean
from torch import Tensor

from .ranking_loss_mixin import RankingLossMixin
from .ranking_targets import level_targets


@MODELS.register_module()
class RankATSSHead(RankingLossMixin, ATSSHead):
    """ATSSHead whose focal classification loss is replaced by the ranking losses.

    Layers, ATSS targets, the centerness-weighted GIoU box loss, the centerness loss and
    inference are ATSSHead's; a focal ATSS checkpoint loads as is (the paper's warm
    start) and predicts the same boxes. The paper's "FCOS-ATSS". Config::

        bbox_head=dict(type='RankATSSHead', ...,  # ATSSHead's arguments
                       loss_cls=dict(_delete_=True, type='RankingLoss'))

    Arguments: ATSSHead's, plus ``loss_pointwise`` and ``rank_scope`` of
    :class:`RankingLossMixin`.
    """

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     centernesses: List[Tensor], batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Ranking losses over all levels, and ATSSHead's box and centerness losses.

        Args:
            cls_scores (list[Tensor[N, K * C, H_l, W_l]]): class logits of each level.
            bbox_preds (list[Tensor[N, K * 4, H_l, W_l]]): box deltas of each level.
            centernesses (list[Tensor[N, K, H_l, W_l]]): centerness logits of each level.
            batch_gt_instances (list[InstanceData]): ``bboxes`` and ``labels`` per image.
            batch_img_metas (list[dict]): image meta information.
            batch_gt_instances_ignore (list[InstanceData], optional): ignored boxes.

        Returns:
            dict: ``loss_rank_*`` (scalars), ``loss_bbox`` and ``loss_centerness`` (one
            per level), and ``loss_cls`` (one per level) only with a ``loss_pointwise``.
        """
        targets = level_targets(self, cls_scores, batch_gt_instances, batch_img_metas,
                                batch_gt_instances_ignore)
        # ATSSHead's own per-level loss and normalisation (as ATSSHead.loss_by_feat) give
        # the box and centerness losses; its classification call reaches self.loss_cls,
        # the point-wise loss if one is configured
        avg_factor = reduce_mean(torch.tensor(
            targets.avg_factor, dtype=torch.float, device=cls_scores[0].device)).item()
        losses_cls, losses_bbox, losses_centerness, bbox_avg_factor = multi_apply(
            super().loss_by_feat_single, targets.anchors, cls_scores, bbox_preds,
            centernesses, targets.labels, targets.label_weights, targets.bbox_targets,
            avg_factor=avg_factor)
        bbox_avg_factor = reduce_mean(sum(bbox_avg_factor)).clamp_(min=1).item()
        losses_bbox = [loss / bbox_avg_factor for loss in losses_bbox]

        losses = self.ranking_losses(cls_scores, bbox_preds, targets)
        losses.update(self.pointwise_losses(losses_cls), loss_bbox=losses_bbox,
                      loss_centerness=losses_centerness)
        return losses
