"""Pieces the 2D heads and SA-SSD's heads share (plain torch): the level flattening,
:class:`RankingLoss` and its divisor. :mod:`rankdet.models.losses` registers
``RankingLoss`` in mmdet's and mmdet3d's ``MODELS``."""
from .image_divisor import (mean_over_processes, num_images_with_positives,
                            reduced_num_images_with_positives)
from .levels import flatten_levels, level_index
from .ranking_loss import RankingLoss

__all__ = ['flatten_levels', 'level_index', 'RankingLoss', 'num_images_with_positives',
           'mean_over_processes', 'reduced_num_images_with_positives']
