"""How hard each loss term pulls on the network: the norm of its gradient over all
parameters, term by term, on a few training batches.

``tools/compare.py`` measures it at the warm-start checkpoint under both losses (the same
weights, the same batches), so the report shows how the ranking terms' gradients compare
with focal loss's where the two runs part.
"""
from __future__ import annotations

from typing import Dict

import torch


def _terms(losses: dict) -> Dict[str, torch.Tensor]:
    """Loss terms of an mmdet/mmdet3d ``model.loss`` dict (lists are per-level parts)."""
    terms = {}
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        if isinstance(value, (list, tuple)):
            value = sum(value)
        terms[name] = value
    return terms


def loss_gradient_norms(cfg, checkpoint: str, num_batches: int, seed: int = 0
                        ) -> Dict[str, float]:
    """Mean over ``num_batches`` training batches of each loss term's gradient norm.

    Args:
        cfg (Config): the model and ``train_dataloader`` (data root already set).
        checkpoint (str): the weights to measure at.
        num_batches (int): batches of ``cfg.train_dataloader`` (seeded with ``seed``, so
            that two configs with the same data see the same batches).
        seed (int): seed of the data sampler.

    Returns:
        dict: term name (``loss_cls``, ``loss_rank_global``, ...) -> mean L2 norm of its
        gradient over all trainable parameters; ``total`` for the sum of the terms.
    """
    from mmengine.runner import Runner

    from apps.runner.trained_model import build_trained_model

    if num_batches < 1:
        raise ValueError(f'num_batches must be >= 1, got {num_batches}')
    model = build_trained_model(cfg, checkpoint)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)

    sums: Dict[str, float] = {}
    batches = iter(loader)
    for _ in range(num_batches):
        data = model.data_preprocessor(next(batches), True)
        terms = _terms(model(**data, mode='loss'))
        terms['total'] = sum(terms.values())
        for name, term in terms.items():
            grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
            squares = [(g.double() ** 2).sum() for g in grads if g is not None]
            norm = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
            sums[name] = sums.get(name, 0.0) + norm
    return {name: total / num_batches for name, total in sums.items()}
