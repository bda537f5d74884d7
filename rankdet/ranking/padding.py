"""Ragged groups of samples as padded, masked rectangles, so per-group work is vectorised.

The ranking losses solve many small independent problems at once (one per image, per
(image, class) or per (image, class, level)); each problem owns a variable number of
samples. Padding them into ``Tensor[G, L]`` with a validity mask replaces Python loops
over groups by one batched tensor op.
"""
from typing import List, Tuple

import torch
from torch import Tensor


def pad_by_group(group_ids: Tensor, num_groups: int,
                 *values: Tensor) -> Tuple[List[Tensor], Tensor]:
    """Gather the samples of each group into one padded row.

    Args:
        group_ids (Tensor[S]): int64 group of each sample, in ``0 .. num_groups - 1``.
        num_groups (int): G, the number of rows of the result (groups may be empty).
        *values (Tensor[S]): per-sample values to pad; autograd flows to every sample.

    Returns:
        (list[Tensor[G, L]], Tensor[G, L]): the padded values (0 where padded) in the
        order the samples appear within each group, and the bool mask of real samples.
        ``L`` is the size of the largest group (0 when there are no samples).
    """
    num_samples = group_ids.numel()
    counts = torch.bincount(group_ids, minlength=num_groups)  # [G]
    length = int(counts.max().item()) if num_samples > 0 else 0
    order = torch.argsort(group_ids, stable=True)  # [S]
    sorted_ids = group_ids[order]
    starts = torch.cumsum(counts, 0) - counts  # [G]
    slot = torch.arange(num_samples, device=group_ids.device) - starts[sorted_ids]
    flat = sorted_ids * length + slot  # [S] position in the flattened [G, L] result
    padded = [v.new_zeros(num_groups * length).scatter(0, flat, v[order])
              .view(num_groups, length) for v in values]
    mask = torch.zeros(num_groups * length, dtype=torch.bool, device=group_ids.device)
    mask[flat] = True
    return padded, mask.view(num_groups, length)
