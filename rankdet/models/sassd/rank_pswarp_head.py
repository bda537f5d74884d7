"""SA-SSD's PSWarp head trained with RankDetNet's ranking losses instead of focal loss
(docs/method.md section 10)."""
from typing import Dict, List, Optional

from mmdet3d.registry import MODELS
from mmdet3d.utils.typing_utils import InstanceList, OptInstanceList
from torch import Tensor

from rankdet.models.common import (RankingLoss, flatten_levels,
                                   reduced_num_images_with_positives)
from .pswarp_head import AnchorSamples, PSWarpHead

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
                       loss_cls=dict(type='RankingLoss'))

    Names, as in the 2D heads (``RankingLossMixin``): the ``loss_cls`` argument is the
    ranking losses' config (it takes the place of the focal head's ``loss_cls``), and the
    built module is ``self.loss_rank``. This head has no point-wise classification loss,
    so it has no ``self.loss_cls`` module (the 2D heads keep one there for their parent's
    per-level code, a zero unless ``loss_pointwise`` is set).

    Args:
        loss_cls (dict): a ``RankingLoss`` config (``type='RankingLoss'``, or
            ``'mmdet.RankingLoss'``); its switches select the terms.
        **kwargs: ``PSWarpHead``'s arguments.
    """

    def __init__(self, *args, loss_cls: dict = dict(type='RankingLoss'), **kwargs) -> None:
        # Anchor3DHead reads sigmoid scoring and "no sampler" off a focal loss_cls; the
        # ranking losses need exactly that, so the head is built as the focal baseline
        # (same layers, same targets) and the loss swapped in afterwards. The focal
        # module has no parameters, and nothing of this head calls it: it goes.
        super().__init__(*args, loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True),
                         **kwargs)
        del self.loss_cls
        self.loss_rank = MODELS.build(loss_cls)
        if not isinstance(self.loss_rank, RankingLoss):
            raise TypeError(f'RankPSWarpHead: loss_cls must build a RankingLoss '
                            f"(type='RankingLoss'), got "
                            f'{type(self.loss_rank).__name__} from {loss_cls}')

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
        samples = self.anchor_samples(cls_scores, bbox_preds, batch_gt_instances_3d,
                                      batch_input_metas, batch_gt_instances_ignore)
        positive, num_total_pos = samples.positive, samples.num_total_pos
        losses = self.loss_ranking(samples)
        pos_deltas, pos_targets = samples.deltas[positive], samples.bbox_targets[positive]
        pos_weights = samples.bbox_weights[positive]
        if samples.pos_image.numel() > 0:
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
            pos_dir = flatten_levels(dir_cls_preds, 2).float()[positive]
            losses['loss_dir'] = (
                self.loss_dir(pos_dir, samples.dir_targets[positive],
                              samples.dir_weights[positive], avg_factor=num_total_pos)
                if samples.pos_image.numel() > 0 else pos_dir.sum())
        return losses

    def loss_ranking(self, samples: AnchorSamples) -> Dict[str, Tensor]:
        """The ranking terms of ``self.loss_rank`` over all anchors of each image.

        Args:
            samples (AnchorSamples): the batch's anchors, from :meth:`anchor_samples`;
                the IoU-guided term reads the IoUs of :meth:`positive_ious`.

        Returns:
            dict: the enabled ``loss_rank_*`` terms.
        """
        scores, labels, label_weights = samples.scores, samples.labels, samples.label_weights
        ious = None
        if self.loss_rank.use_iou:
            # the IoU-guided term reaches the box branch through these IoUs
            ious = scores.new_zeros(labels.shape).index_put(
                (samples.pos_image, samples.pos_anchor),
                self.positive_ious(samples).to(scores.dtype))
        avg_factor = reduced_num_images_with_positives(labels, self.num_classes,
                                                       label_weights)
        return self.loss_rank(scores, labels, label_weights, avg_factor=avg_factor,
                              ious=ious, levels=samples.levels.expand_as(labels))
