"""Register rankdet's modules with OpenMMLab and fix the pinned stack: the one import that
configs (``custom_imports = dict(imports=['rankdet.registration'])``) and tools make.

Importing this module, once per process (Python caches it; calling
:func:`register_all_modules` again changes nothing):

1. applies rankdet's fixes to the pinned stack (:func:`rankdet.compat.apply_all`:
   spconv on the CPU, mmengine checkpoints under torch >= 2.6, mmengine's launcher
   without CUDA, ``np.long``), before any model, dataset or runner is built;
2. registers rankdet's heads, losses and SA-SSD modules (mmdet's and mmdet3d's
   ``MODELS``), its datasets (``DATASETS``), its metrics (``METRICS``) and
   ``RankingHealthHook`` (mmengine's ``HOOKS``).

Registering a subclass of an mmdet head needs ``mmdet.models``, whose ``__init__``
imports mmdet's whole model zoo (seconds), so this is not done by ``import rankdet``:
``import rankdet`` and ``import rankdet.ranking`` (the losses in plain PyTorch) stay
cheap. mmdet3d's parts are registered where mmdet3d is installed.
"""
import importlib.util

from .compat import apply_all

__all__ = ['register_all_modules']


def register_all_modules() -> None:
    """Apply rankdet's stack fixes and register its modules (idempotent)."""
    apply_all()
    if importlib.util.find_spec('mmdet') is not None:
        from . import datasets, models  # noqa: F401  mmdet's DATASETS and MODELS
        from . import engine  # noqa: F401  RankingHealthHook in mmengine's HOOKS
        from .evaluation import coco_metric  # noqa: F401  RankCocoMetric
    if importlib.util.find_spec('mmdet3d') is not None:
        from .evaluation import kitti_metric  # noqa: F401  RankKittiMetric


register_all_modules()
