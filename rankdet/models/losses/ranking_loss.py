"""Registers :class:`~rankdet.models.common.RankingLoss` with mmdet and mmdet3d.

The loss follows mmdet's loss contract, ``forward(pred, target, weight, avg_factor,
reduction_override)`` (plus the ranking losses' ``ious`` and ``levels``); its code needs
torch only and lives in :mod:`rankdet.models.common.ranking_loss`, which 2D and 3D heads
share. mmengine looks a type up in the config's scope and its parents, not in sibling
scopes: mmdet3d's ``MODELS`` needs its own entry for ``type='RankingLoss'`` to build in
an mmdet3d-scope config. Both entries are the same class.
"""
import importlib.util

from mmdet.registry import MODELS

from rankdet.models.common.ranking_loss import RankingLoss

MODELS.register_module(module=RankingLoss)

if importlib.util.find_spec('mmdet3d') is not None:
    from mmdet3d.registry import MODELS as MODELS3D

    MODELS3D.register_module(module=RankingLoss)

__all__ = ['RankingLoss']
