"""SA-SSD's PSWarp head trained with RankDetNet's ranking losses instead of focal loss."""
from typing import Dict, List, Optional

import torch
from mmdet.utils import reduce_mean
from mmdet3d.registry import MODELS
from mmdet3d.utils.typing_utils import InstanceList, OptInstanceList
from torch import Tensor

from rankdet.models.losses import RankingLoss
from rankdet.ops import iou3d
from .pswarp_head import PSWarpHead, clamp_size_deltas

__all__ = ['RankPSWarpHead']


@MODELS.register_module()
class RankPSWarpHead(PSWarpHead):
    """``PSWarpHead`` whose classification term is :class:`RankingLoss`.

    The network, the anchor targets, the box and direction losses and inference are the
    focal head's; only the loss on the confidence map changes. Ranking compares anchors
    across the whole image, so ``loss_by_feat`` gathers all anchors of every image at
    once (``[B, A, C]``) instead of mmdet3d's per-level flattening. The IoU-guided term
    (RankDetNet Eq. 6) ranks each positive by the rotated 3D IoU between the box it
    predicts (decoded from ``bbox_pred``, differentiable) and its assigned ground truth::

        bbox_head=dict(type='RankPSWarpHead', ...,
                       loss_cls=dict(type='mmdet.RankingLoss'))

    Args:
        loss_cls (dict): a ``RankingLoss`` config; its switches select the terms.
        **kwargs: ``PSWarpHead``'s arguments.
    """

    def __init__(self, *args, loss_cls: dict = dict(type='mmdet.RankingLoss'),
                 **kwargs) -> None:
        # Anchor3DHead reads sigmoid scoring and "no sampler" off a focal loss_cls; the
        # ranking losses need exactly that, so the head is built as the focal baseline
        # (same layers, same targets) and the loss swapped in afterwards.
        super().__init__(*args, loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True),
                         **kwargs)
        self.loss_cls = MODELS.build(loss_cls)
        if not isinstance(self.loss_cls, RankingLoss):
            raise TypeError(f'RankPSWarpHead: loss_cls must build a RankingLoss '
                            f"(type='mmdet.RankingLoss'), got "
                            f'{type(self.loss_cls).__name__} from {loss_cls}')

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     dir_cls_preds: List[Optional[Tensor]],
                     batch_gt_instances_3d: InstanceList, batch_input_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> Dict[str, Tensor]:
        """Ranking, box and direction losses of a batch.

        Args:
            cls_scores (list[Tensor[B, A*C, H, W]]): confidence logits per level.
            bbox_preds (list[Tensor[B, A*code, H, W]]): box deltas per level.
            dir_cls_preds (list[Tensor[B, A*2, H, W]] or list[None]): direction logits.
            batch_gt_instances_3d (list[InstanceData]): ``bboxes_3d``, ``labels_3d``.
            batch_input_metas (list[dict]): meta information of each frame.
            batch_gt_instances_ignore (list, optional): ignored boxes.

        Returns:
            dict: ``loss_rank_global``, ``loss_rank_class``, ``loss_rank_iou`` (the terms
            enabled in ``loss_cls``), ``loss_bbox`` and ``loss_dir``.
        """
        num_images = cls_scores[0].shape[0]
        code = self.box_code_size
        featmap_sizes = [score.shape[-2:] for score in cls_scores]
        device = cls_scores[0].device
        targets = self.anchor_target_3d(
            self.get_anchors(featmap_sizes, batch_input_metas, device=device),
            batch_gt_instances_3d, batch_input_metas,
            batch_gt_instances_ignore=batch_gt_instances_ignore,
            num_classes=self.num_classes, label_channels=self.cls_out_channels,
            sampling=False)
        (labels, label_weights, bbox_targets, bbox_weights, dir_targets, dir_weights,
         num_total_pos, _) = [torch.cat(t, dim=1) if isinstance(t, list) else t
                              for t in targets]                           # [B, A, ...]

        def flat(maps, channels):  # levels of [B, A_l*channels, H, W] -> [B, A, channels]
            return torch.cat([m.float().permute(0, 2, 3, 1).reshape(num_images, -1, channels)
                              for m in maps], dim=1)

        scores, deltas = flat(cls_scores, self.num_classes), flat(bbox_preds, code)
        level_anchors = [a.reshape(-1, code) for a in
                         self.prior_generator.grid_anchors(featmap_sizes, device)]
        anchors = torch.cat(level_anchors)                                   # [A, code]
        levels = torch.cat([torch.full((len(a),), i, device=device)
                            for i, a in enumerate(level_anchors)])           # [A]
        positive = (labels >= 0) & (labels < self.num_classes)               # [B, A]
        pos_image, pos_anchor = positive.nonzero(as_tuple=True)

        losses = self.loss_ranking(scores, labels, label_weights, deltas, bbox_targets,
                                   anchors, levels, pos_image, pos_anchor)
        pos_deltas, pos_targets = deltas[positive], bbox_targets[positive]
        pos_weights = bbox_weights[positive]
        if pos_image.numel() > 0:
            code_weight = self.train_cfg.get('code_weight', None)
            if code_weight:
                pos_weights = pos_weights * pos_weights.new_tensor(code_weight)
            if self.diff_rad_by_sin:
                pos_deltas, pos_targets = self.add_sin_difference(pos_deltas, pos_targets)
            losses['loss_bbox'] = self.loss_bbox(pos_deltas, pos_targets, pos_weights,
                                                 avg_factor=num_total_pos)
        else:
            losses['loss_bbox'] = pos_deltas.sum()
        if self.use_direction_classifier:
            pos_dir = flat(dir_cls_preds, 2)[positive]
            losses['loss_dir'] = (self.loss_dir(pos_dir, dir_targets[positive],
                                                dir_weights[positive], avg_factor=num_total_pos)
                                  if pos_image.numel() > 0 else pos_dir.sum())
        return losses

    def loss_ranking(self, scores: Tensor, labels: Tensor, label_weights: Tensor,
                     deltas: Tensor, bbox_targets: Tensor, anchors: Tensor, levels: Tensor,
                     pos_image: Tensor, pos_anchor: Tensor) -> Dict[str, Tensor]:
        """The ranking terms of ``self.loss_cls`` over all anchors of each image.

        Args:
            scores (Tensor[B, A, C]): confidence logits.
            labels (LongTensor[B, A]): 0..C-1 positive, C background.
            label_weights (Tensor[B, A]): 0 for ignored anchors.
            deltas (Tensor[B, A, code]): predicted box deltas.
            bbox_targets (Tensor[B, A, code]): encoded ground truth (read at positives).
            anchors (Tensor[A, code]): the anchors.
            levels (LongTensor[A]): feature level of each anchor.
            pos_image, pos_anchor (LongTensor[P]): the positives.

        Returns:
            dict: the enabled ``loss_rank_*`` terms.
        """
        ious = None
        if self.loss_cls.use_iou:
            pos_anchors = anchors[pos_anchor]
            # an early, wild size delta must not make an infinite box (and a NaN IoU)
            predicted = self.bbox_coder.decode(
                pos_anchors, clamp_size_deltas(deltas[pos_image, pos_anchor]))
            assigned = self.bbox_coder.decode(pos_anchors,
                                              bbox_targets[pos_image, pos_anchor]).detach()
            # the IoU-guided term reaches the box branch through these IoUs
            pos_ious = iou3d(predicted[:, :7], assigned[:, :7], aligned=True)
            ious = scores.new_zeros(labels.shape).index_put((pos_image, pos_anchor),
                                                            pos_ious.to(scores.dtype))
        avg_factor = reduce_mean(RankingLoss.num_images_with_positives(
            labels, self.num_classes, label_weights))
        return self.loss_cls(scores, labels, label_weights, avg_factor=avg_factor,
                             ious=ious, levels=levels.expand_as(labels))
