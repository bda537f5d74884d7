"""RankingLossMixin: RankDetNet's ranking losses in place of an mmdet anchor head's focal
classification loss; what RankRetinaHead and RankATSSHead share.

Liu et al., "RankDetNet: Delving into Ranking Constraints for Object Detection", CVPR 2021.
Everything but the classification loss stays the baseline's: the layers (a focal
checkpoint loads with no missing or unexpected key), the targets (``get_targets``), the
inference path (``predict_by_feat``) and the box regression (and ATSS centerness) loss,
which the heads compute with the parent's own ``loss_by_feat_single``. See docs/method.md
section 6 (and section 8 for ``loss_pointwise`` and ``rank_scope``).
"""
from typing import Dict, List, Optional

from mmdet.registry import MODELS
from mmdet.utils import OptConfigType
from torch import Tensor, nn

from rankdet.models.common import RankingLoss, reduced_num_images_with_positives
from .ranking_targets import LevelTargets, ranking_samples

RANK_SCOPES = ('image', 'batch')


class NoPointwiseLoss(nn.Module):
    """The parent's per-level classification call when no point-wise loss is configured.

    The ranking losses replace it: it returns a zero outside the graph, and the head
    leaves it out of its losses.
    """

    def forward(self, cls_score: Tensor, labels: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None) -> Tensor:
        return cls_score.new_zeros(())


class RankingLossMixin:
    """Makes an mmdet anchor head train with :class:`RankingLoss`; list it first.

    ``class RankRetinaHead(RankingLossMixin, RetinaHead)``: the head overrides
    ``loss_by_feat`` to run the parent's per-level loss for the box terms and
    :meth:`ranking_losses` for the classification terms.

    Args:
        loss_cls (dict): the ranking losses, ``dict(type='RankingLoss', ...)``; each
            switch of Table 4 is an argument of :class:`RankingLoss`. Built into
            ``self.loss_rank``.
        loss_pointwise (dict, optional): a point-wise classification loss kept beside the
            ranking losses and computed per level as the baseline does, e.g. focal loss
            for Table 4 Exp. (4) (focal + IoU-guided). It must use sigmoid scores. The
            parent's per-level code reaches it as ``self.loss_cls``. None (default): no
            point-wise term.
        rank_scope (str): ``'image'`` (default, the paper): pairs are formed within each
            image and the loss is the mean over images with a positive; ``'batch'``: the
            anchors of all images of the batch (on one process) rank together.
        *args, **kwargs: the parent head's arguments.
    """

    def __init__(self, *args, loss_cls: dict = dict(type='RankingLoss'),
                 loss_pointwise: OptConfigType = None, rank_scope: str = 'image',
                 **kwargs) -> None:
        super().__init__(*args, loss_cls=loss_cls, **kwargs)
        name = type(self).__name__
        if not isinstance(self.loss_cls, RankingLoss):
            raise TypeError(
                f"{name}: loss_cls must be dict(type='RankingLoss', ...), got "
                f"{type(self.loss_cls).__name__}; a config that inherits a focal head "
                f"replaces its loss with loss_cls=dict(_delete_=True, type='RankingLoss')")
        if rank_scope not in RANK_SCOPES:
            raise ValueError(f'{name}: rank_scope must be one of {RANK_SCOPES}, '
                             f'got {rank_scope!r}')
        if loss_pointwise is not None and not loss_pointwise.get('use_sigmoid', False):
            raise ValueError(f'{name}: loss_pointwise must score anchors by sigmoid '
                             f'(use_sigmoid=True), as the ranking losses do; got '
                             f'{loss_pointwise}')
        self.rank_scope = rank_scope
        self.loss_rank = self.loss_cls
        self.loss_cls = (NoPointwiseLoss() if loss_pointwise is None
                         else MODELS.build(loss_pointwise))

    def _init_layers(self) -> None:
        # The ranking losses score an anchor by the sigmoid of its class logit, as focal
        # loss does: C outputs per anchor, the baseline's layers. AnchorHead reads this
        # from loss_cls['use_sigmoid'], a key RankingLoss has no use for.
        self.use_sigmoid_cls = True
        self.cls_out_channels = self.num_classes
        super()._init_layers()

    def pointwise_losses(self, losses_cls: List[Tensor]) -> Dict[str, List[Tensor]]:
        """The parent's per-level classification losses, if a point-wise loss is set."""
        if isinstance(self.loss_cls, NoPointwiseLoss):
            return {}
        return {'loss_cls': losses_cls}

    def ranking_losses(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                       targets: LevelTargets) -> Dict[str, Tensor]:
        """RankDetNet's enabled ranking losses over all levels of each image.

        Args:
            cls_scores (list[Tensor[N, K * C, H_l, W_l]]): class logits of each level.
            bbox_preds (list[Tensor[N, K * 4, H_l, W_l]]): box deltas of each level.
            targets (LevelTargets): the head's targets (``ranking_targets.level_targets``).

        Returns:
            dict: ``loss_rank_global``, ``loss_rank_class``, ``loss_rank_iou`` (those
            enabled in ``loss_cls``), each a scalar.
        """
        samples = ranking_samples(self, cls_scores, bbox_preds, targets,
                                  with_ious=self.loss_rank.use_iou)
        if self.rank_scope == 'batch':
            samples = type(samples)(*(None if t is None else t.reshape(1, -1, *t.shape[2:])
                                      for t in samples))
        # the mean over images with a positive, counted over all processes as mmdet
        # heads count positives (the divisor RankingLoss documents)
        avg_factor = reduced_num_images_with_positives(samples.labels, self.num_classes,
                                                       samples.weights)
        return self.loss_rank(samples.logits, samples.labels, samples.weights,
                              avg_factor=avg_factor, ious=samples.ious,
                              levels=samples.levels)
