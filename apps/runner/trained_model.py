"""A model built from a config with a checkpoint's weights, outside a Runner (the pair
analyses, the gradient norms of tools/compare.py)."""
import os
from typing import Callable, Optional


def build_trained_model(cfg, checkpoint: str, default_scope: str = 'mmdet',
                        check: Optional[Callable] = None):
    """``cfg.model`` built in the config's registry scope (its ``custom_imports``
    imported first, as the Runner does) with the weights of ``checkpoint``, in train mode
    as built; callers pick ``eval()`` or ``train()``. ``check(model)`` runs before the
    weights are read, so that a model the caller cannot use fails fast."""
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint
    from mmengine.utils import import_modules_from_strings

    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', default_scope))
    model = MODELS.build(cfg.model)
    if check is not None:
        check(model)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    return model
