"""SA-SSD's anchor head: mmdet3d's ``Anchor3DHead`` with a PSWarp confidence map."""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet3d.models import Anchor3DHead  # the baseline 3D head (mmdet3d's public name)
from mmdet3d.registry import MODELS
from mmdet3d.structures import limit_period
from mmdet3d.utils.typing_utils import InstanceList, OptInstanceList
from torch import Tensor, nn

from rankdet.models.common import flatten_levels, level_index
from rankdet.ops import iou3d
from .pswarp import part_sensitive_warp

__all__ = ['AnchorSamples', 'PSWarpHead', 'clamp_size_deltas']

# decoded sizes are exp(delta) * anchor size: at most e^4 = 55 times the anchor's
MAX_LOG_SIZE_RATIO = 4.0


def clamp_size_deltas(deltas: Tensor) -> Tensor:
    """``DeltaXYZWLHRBBoxCoder`` deltas ``Tensor[..., 7+]`` with the size terms capped,
    so that decoding never gives an infinite box (the gradient stops past the cap)."""
    return torch.cat([deltas[..., :3], deltas[..., 3:6].clamp(max=MAX_LOG_SIZE_RATIO),
                      deltas[..., 6:]], dim=-1)


class AnchorSamples(NamedTuple):
    """A batch's anchors with their targets, all anchors of a frame together.

    ``A`` counts the anchors of every level of a frame, in the order of the anchor
    generator's grids that ``anchor_target_3d`` labels (level, row, column, then the
    anchors of a location, as the head's maps are flattened).
    """

    scores: Tensor  # [B, A, C] confidence logits, read from the PSWarp-warped map
    deltas: Tensor  # [B, A, code] predicted box deltas
    labels: Tensor  # [B, A] 0..C-1 positive, C background (and ignored)
    label_weights: Tensor  # [B, A] 0 marks an ignored anchor
    bbox_targets: Tensor  # [B, A, code] encoded ground truth, meaningful at positives
    bbox_weights: Tensor  # [B, A, code]
    dir_targets: Tensor  # [B, A] direction bin of the ground truth
    dir_weights: Tensor  # [B, A]
    num_total_pos: int  # the box and direction losses' normaliser
    anchors: Tensor  # [A, code]
    levels: Tensor  # [A] feature level of each anchor
    positive: Tensor  # [B, A] bool
    pos_image: Tensor  # [P] frame of each positive
    pos_anchor: Tensor  # [P] anchor of each positive

    def labels_with_ignored(self) -> Tensor:
        """Tensor[B, A]: ``labels`` with ignored anchors set to -1."""
        return self.labels.masked_fill(self.label_weights <= 0, -1)


@MODELS.register_module()
class PSWarpHead(Anchor3DHead):
    """``Anchor3DHead`` whose classification branch is SA-SSD's part-sensitive warping.

    ``conv_cls`` predicts ``K = P_l * P_w`` part maps per class; each anchor's confidence
    logit is read from them along the box it predicts (decoded from ``conv_reg``, turned
    by the direction classifier as at inference; no gradient flows into the box through
    the warping), see :mod:`rankdet.models.sassd.pswarp`. Everything downstream of the
    confidence map (targets, focal loss, box and direction losses, decoding, NMS) is
    ``Anchor3DHead``'s: ``cls_score`` keeps its shape ``[B, A * C, H, W]``.

    Args:
        part_grid (tuple[int, int]): sub-windows along a box's length and width; SA-SSD
            uses 28 parts, ``(7, 4)``.
        **kwargs: ``Anchor3DHead``'s arguments; ``loss_cls`` must use sigmoid scores.
    """

    def __init__(self, *args, part_grid: Sequence[int] = (7, 4), **kwargs) -> None:
        part_grid = tuple(part_grid)
        if len(part_grid) != 2 or min(part_grid) < 1:
            raise ValueError(f'PSWarpHead: part_grid must be (parts along the length, '
                             f'parts along the width), each >= 1, got {part_grid}')
        self.part_grid = part_grid  # read by _init_layers during Anchor3DHead.__init__
        super().__init__(*args, **kwargs)
        if not self.use_sigmoid_cls:
            raise ValueError('PSWarpHead: the warped confidence is a sigmoid logit; set '
                             'use_sigmoid=True in loss_cls')
        if self.prior_generator.num_levels != 1:
            raise ValueError(f'PSWarpHead: SA-SSD has one feature level, the anchor '
                             f'generator has {self.prior_generator.num_levels}')

    @property
    def num_parts(self) -> int:
        return self.part_grid[0] * self.part_grid[1]

    def _init_layers(self) -> None:
        super()._init_layers()
        self.conv_cls = nn.Conv2d(self.feat_channels, self.num_parts * self.num_classes, 1)

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """``(cls_score [B, A*C, H, W], bbox_pred [B, A*7, H, W], dir_cls_pred)``."""
        part_maps = self.conv_cls(x)
        bbox_pred = self.conv_reg(x)
        dir_cls_pred = self.conv_dir_cls(x) if self.use_direction_classifier else None
        cls_score = self.warp_parts(part_maps, bbox_pred, dir_cls_pred)
        return cls_score, bbox_pred, dir_cls_pred

    def warp_parts(self, part_maps: Tensor, bbox_pred: Tensor,
                   dir_cls_pred: Optional[Tensor]) -> Tensor:
        """The confidence map: each anchor's predicted box read from the part maps.

        Args:
            part_maps (Tensor[B, K*C, H, W]): channel ``k * C + c``, part k of class c.
            bbox_pred (Tensor[B, A*code, H, W]): box deltas of the A anchors per pixel.
            dir_cls_pred (Tensor[B, A*2, H, W] or None): direction logits.

        Returns:
            Tensor[B, A*C, H, W]: confidence logits, channel ``a * C + c``.
        """
        num_images, _, height, width = bbox_pred.shape
        num_anchors, num_classes = self.num_anchors, self.num_classes
        anchors = self.prior_generator.grid_anchors([(height, width)],
                                                    device=bbox_pred.device)[0]
        anchors = anchors.reshape(height, width, num_anchors, -1)[..., :self.box_code_size]
        if height < 2 or width < 2:
            raise ValueError(f'PSWarpHead needs a feature map of at least 2 x 2 pixels, got '
                             f'{height} x {width}')
        # the anchor centres at pixel (0, 0) and (W-1, H-1) fix the metres-to-pixels map
        bev_corners = torch.stack([anchors[0, 0, 0, 0], anchors[0, 0, 0, 1],
                                   anchors[0, -1, 0, 0], anchors[-1, 0, 0, 1]])
        with torch.no_grad():
            deltas = bbox_pred.permute(0, 2, 3, 1).reshape(num_images, -1, self.box_code_size)
            boxes = self.bbox_coder.decode(anchors.reshape(1, -1, self.box_code_size),
                                           clamp_size_deltas(deltas))
            if dir_cls_pred is not None:
                direction = dir_cls_pred.permute(0, 2, 3, 1).reshape(
                    num_images, -1, 2).argmax(dim=-1)
                boxes[..., 6] = self.apply_direction(boxes[..., 6], direction)
        scores = part_sensitive_warp(part_maps, boxes, self.part_grid, bev_corners)
        return scores.reshape(num_images, height, width, num_anchors * num_classes).permute(
            0, 3, 1, 2).contiguous()

    def apply_direction(self, yaw: Tensor, direction: Tensor) -> Tensor:
        """Yaw turned by the direction bin, as ``Anchor3DHead`` does when decoding."""
        yaw = limit_period(yaw - self.dir_offset, self.dir_limit_offset, np.pi)
        return yaw + self.dir_offset + np.pi * direction.to(yaw.dtype)

    def anchor_samples(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                       batch_gt_instances_3d: InstanceList, batch_input_metas: List[dict],
                       batch_gt_instances_ignore: OptInstanceList = None) -> AnchorSamples:
        """The head's outputs and its training targets, all anchors of a frame at once.

        The anchors are labelled by ``anchor_target_3d`` without sampling, as in
        training; the ranking head's loss and the pair analysis
        (:mod:`apps.pairs.analyze_pairs_3d`) both read this.

        Args:
            cls_scores (list[Tensor[B, A_l*C, H, W]]): confidence logits per level.
            bbox_preds (list[Tensor[B, A_l*code, H, W]]): box deltas per level.
            batch_gt_instances_3d (list[InstanceData]): ``bboxes_3d``, ``labels_3d``
                (``anchor_target_3d`` replaces ``bboxes_3d`` by its tensor).
            batch_input_metas (list[dict]): meta information of each frame.
            batch_gt_instances_ignore (list, optional): ignored boxes.
        """
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
        level_anchors = [a.reshape(-1, code) for a in
                         self.prior_generator.grid_anchors(featmap_sizes, device)]
        positive = (labels >= 0) & (labels < self.num_classes)               # [B, A]
        pos_image, pos_anchor = positive.nonzero(as_tuple=True)
        return AnchorSamples(
            scores=flatten_levels(cls_scores, self.num_classes).float(),
            deltas=flatten_levels(bbox_preds, code).float(),
            labels=labels, label_weights=label_weights, bbox_targets=bbox_targets,
            bbox_weights=bbox_weights, dir_targets=dir_targets, dir_weights=dir_weights,
            num_total_pos=num_total_pos, anchors=torch.cat(level_anchors),
            levels=level_index([len(a) for a in level_anchors], device),
            positive=positive, pos_image=pos_image, pos_anchor=pos_anchor)

    def positive_ious(self, samples: AnchorSamples) -> Tensor:
        """Rotated 3D IoU of each positive's predicted box with its ground truth.

        s(p) of RankDetNet's IoU-guided loss (Eq. 6) and of Table 3's P-P pairs: the box
        decoded from the positive's deltas (sizes capped by :func:`clamp_size_deltas`;
        the direction classifier does not matter, a box turned by pi is the same box)
        against the ground truth decoded from its target.

        Returns:
            Tensor[P]: in the order of ``samples.pos_image``, differentiable with respect
            to ``samples.deltas``.
        """
        pos_image, pos_anchor = samples.pos_image, samples.pos_anchor
        pos_anchors = samples.anchors[pos_anchor]                            # [P, code]
        # an early, wild size delta must not make an infinite box (and a NaN IoU)
        predicted = self.bbox_coder.decode(
            pos_anchors, clamp_size_deltas(samples.deltas[pos_image, pos_anchor]))
        assigned = self.bbox_coder.decode(
            pos_anchors, samples.bbox_targets[pos_image, pos_anchor]).detach()
        return iou3d(predicted[:, :7], assigned[:, :7], aligned=True)
