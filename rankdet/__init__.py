"""rankdet: RankDetNet ranking losses for MMDetection and MMDetection3D.

``import rankdet`` is cheap: it imports no OpenMMLab package and registers nothing. The
ranking losses themselves, ``rankdet.ranking``, are plain PyTorch.

To use rankdet's heads, losses, datasets, metrics and hooks from configs, import
:mod:`rankdet.registration`: it applies rankdet's fixes to the pinned stack
(``rankdet.compat``) and registers the modules in mmdet's, mmdet3d's and mmengine's
registries. Configs do it through
``custom_imports = dict(imports=['rankdet.registration'], allow_failed_imports=False)``
(``configs*/_base_/default_runtime.py``); ``tools/train.py`` and ``tools/test.py`` import
it before reading a config; a script that builds a model itself starts with
``import rankdet.registration``.
"""
__version__ = '0.1.0'
