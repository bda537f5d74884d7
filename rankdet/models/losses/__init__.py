"""rankdet's losses in OpenMMLab's registries; importing this registers them.

:class:`RankingLoss` (plain torch, :mod:`rankdet.models.common.ranking_loss`) is
registered in mmdet's ``MODELS`` and, where mmdet3d is installed, in mmdet3d's, so 2D and
3D configs both say ``type='RankingLoss'`` (``'mmdet.RankingLoss'`` keeps working in 3D).
"""
from .ranking_loss import RankingLoss

__all__ = ['RankingLoss']
