"""Per-level anchor-head outputs as one flat problem per image, shared by the 2D heads
(``rankdet.models.dense_heads``) and SA-SSD's heads (``rankdet.models.sassd``): the
ranking losses pair anchors across all levels of an image, in the order of the targets
(level, then row, column, base anchor). Plain torch.
"""
from typing import List

import torch
from torch import Tensor


def flatten_levels(maps: List[Tensor], channels: int) -> Tensor:
    """Per-level head outputs as one tensor per image, in the order of mmdet's targets.

    Args:
        maps (list[Tensor[N, K * channels, H_l, W_l]]): one output map per level, K base
            anchors per location.
        channels (int): values per anchor (C class logits, or 4 box deltas).

    Returns:
        Tensor[N, A, channels]: A = sum over levels of H_l * W_l * K.
    """
    num_images = maps[0].size(0)
    return torch.cat([m.permute(0, 2, 3, 1).reshape(num_images, -1, channels)
                      for m in maps], dim=1)


def level_index(num_level_anchors: List[int], device: torch.device) -> Tensor:
    """Tensor[A]: the pyramid level of each anchor of the flattened order."""
    return torch.cat([torch.full((n,), level, dtype=torch.long, device=device)
                      for level, n in enumerate(num_level_anchors)])
