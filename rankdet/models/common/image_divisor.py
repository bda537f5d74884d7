"""The divisor of :class:`~rankdet.models.common.RankingLoss`'s ``'mean'``: the number of
images with at least one positive, averaged over the processes of a distributed run.

RankDetNet's ranking losses are per-image (docs/method.md section 6): the batch loss is
their sum over images divided by the number of images that have a positive, the paper's
mean over such images. A 2D head (``rankdet.models.dense_heads``) and SA-SSD's ranking head
(``rankdet.models.sassd``) compute it here alike. Plain torch.
"""
from typing import Optional

import torch.distributed as dist
from torch import Tensor


def num_images_with_positives(target: Tensor, num_classes: int,
                              weight: Optional[Tensor] = None) -> Tensor:
    """Images of the batch with at least one positive (a float tensor, to reduce).

    Args:
        target (Tensor[B, A]): labels, 0..C-1 positive, C background, -1 ignored.
        num_classes (int): C.
        weight (Tensor[B, A], optional): label weights; 0 marks ignored anchors.

    Returns:
        Tensor[]: float32 count.
    """
    positive = (target >= 0) & (target < num_classes)
    if weight is not None:
        positive &= weight > 0
    return positive.any(dim=1).sum().float()


def mean_over_processes(value: Tensor) -> Tensor:
    """``value`` averaged over the processes of the default group; itself without one.

    The same arithmetic as ``mmdet.utils.reduce_mean`` (divide by the world size, then
    sum), so every process divides by the same count, as mmdet's heads divide by their
    ``num_total_pos``; kept here so that this module needs torch only.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return value
    value = value.clone()
    dist.all_reduce(value.div_(dist.get_world_size()), op=dist.ReduceOp.SUM)
    return value


def reduced_num_images_with_positives(target: Tensor, num_classes: int,
                                      weight: Optional[Tensor] = None) -> Tensor:
    """The ``avg_factor`` a head passes to ``RankingLoss``: :func:`num_images_with_positives`
    averaged over processes (:func:`mean_over_processes`); it may be 0 (RankingLoss adds
    an epsilon, as mmdet's ``weight_reduce_loss`` does).

    Args: as :func:`num_images_with_positives`.

    Returns:
        Tensor[]: float32 mean count over processes.
    """
    return mean_over_processes(num_images_with_positives(target, num_classes, weight))


__all__ = ['num_images_with_positives', 'mean_over_processes',
           'reduced_num_images_with_positives']
