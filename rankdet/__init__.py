"""rankdet: RankDetNet ranking losses for MMDetection and MMDetection3D.

``import rankdet`` (what configs do through ``custom_imports``) applies rankdet's fixes to
the pinned stack and registers its modules in mmdet's and mmdet3d's registries. The
ranking core, ``rankdet.ranking``, is plain PyTorch and needs neither.
"""
import importlib.util

from .compat import apply_all as _apply_compat_fixes

__version__ = '0.1.0'

_apply_compat_fixes()

if importlib.util.find_spec('mmdet') is not None:
    from . import datasets, models  # noqa: F401  registers in mmdet's DATASETS and MODELS
    from . import engine  # noqa: F401  registers RankingHealthHook in mmengine's HOOKS
from . import evaluation  # noqa: E402,F401  registers RankKittiMetric where mmdet3d is installed
