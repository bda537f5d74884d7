"""SA-SSD's anchor head: mmdet3d's ``Anchor3DHead`` with a PSWarp confidence map."""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet3d.models.dense_heads import Anchor3DHead
from mmdet3d.registry import MODELS
from mmdet3d.structures import limit_period
from torch import Tensor, nn

from .pswarp import part_sensitive_warp

__all__ = ['PSWarpHead', 'clamp_size_deltas']

# decoded sizes are exp(delta) * anchor size: at most e^4 = 55 times the anchor's
MAX_LOG_SIZE_RATIO = 4.0


def clamp_size_deltas(deltas: Tensor) -> Tensor:
    """``DeltaXYZWLHRBBoxCoder`` deltas ``Tensor[..., 7+]`` with the size terms capped,
    so that decoding never gives an infinite box (the gradient stops past the cap)."""
    return torch.cat([deltas[..., :3], deltas[..., 3:6].clamp(max=MAX_LOG_SIZE_RATIO),
                      deltas[..., 6:]], dim=-1)


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
