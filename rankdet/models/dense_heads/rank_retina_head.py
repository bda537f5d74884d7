"""RankRetinaHead: RetinaNet's head trained with RankDetNet's ranking losses."""
from typing import List

from mmdet.models.dense_heads import RetinaHead
from mmdet.models.utils import multi_apply
from mmdet.registry import MODELS
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from .ranking_loss_mixin import RankingLossMixin
from .ranking_targets import level_targets


@MODELS.register_module()
class RankRetinaHead(RankingLossMixin, RetinaHead):
    """RetinaHead whose focal classification loss is replaced by the ranking losses.

    Layers, anchors, MaxIoU targets, the L1 box loss and inference are RetinaHead's; a
    focal RetinaNet checkpoint loads as is (the paper's warm start) and predicts the
    same boxes. Config::

        bbox_head=dict(type='RankRetinaHead', ...,  # RetinaHead's arguments
                       loss_cls=dict(_delete_=True, type='RankingLoss'))

    Arguments: RetinaHead's, plus ``loss_pointwise`` and ``rank_scope`` of
    :class:`RankingLossMixin`.
    """

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     batch_gt_instances: InstanceList, batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Ranking losses over all levels, and RetinaHead's box loss per level.

        Args:
            cls_scores (list[Tensor[N, K * C, H_l, W_l]]): class logits of each level.
            bbox_preds (list[Tensor[N, K * 4, H_l, W_l]]): box deltas of each level.
            batch_gt_instances (list[InstanceData]): ``bboxes`` and ``labels`` per image.
            batch_img_metas (list[dict]): image meta information.
            batch_gt_instances_ignore (list[InstanceData], optional): ignored boxes.

        Returns:
            dict: ``loss_rank_*`` (scalars), ``loss_bbox`` (one per level), and
            ``loss_cls`` (one per level) only with a ``loss_pointwise``.
        """
        targets = level_targets(self, cls_scores, batch_gt_instances, batch_img_metas,
                                batch_gt_instances_ignore)
        # RetinaHead's own per-level loss gives the box loss; its classification call
        # reaches self.loss_cls, the point-wise loss if one is configured
        losses_cls, losses_bbox = multi_apply(
            super().loss_by_feat_single, cls_scores, bbox_preds, targets.anchors,
            targets.labels, targets.label_weights, targets.bbox_targets,
            targets.bbox_weights, avg_factor=targets.avg_factor)
        losses = self.ranking_losses(cls_scores, bbox_preds, targets)
        losses.update(self.pointwise_losses(losses_cls), loss_bbox=losses_bbox)
        return losses
