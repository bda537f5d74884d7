"""The rank functions L_rank of RankDetNet (Liu et al., CVPR 2021, Sec. 3).

Eq. (2), (4) and (6) take a non-negative, monotonically increasing ``L_rank``; the paper
uses ``exp`` and Table 5(a) finds ``sigmoid`` and ``logistic`` about equal
(docs/method.md section 1).

The flat value ``L_rank(0)`` is what every term equals when all compared scores are equal
(``exp`` 1, ``sigmoid`` 0.5, ``logistic`` log 2): a run whose terms sit there has stopped
ranking anything (for example every probability saturated near 0).
"""
from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import Tensor

RankFunction = Callable[[Tensor], Tensor]

RANK_FUNCTIONS: Dict[str, RankFunction] = {
    'exp': torch.exp,                # L(x) = e^x
    'sigmoid': torch.sigmoid,        # L(x) = 1 / (1 + e^-x)
    'logistic': F.softplus,          # L(x) = log(1 + e^x)
}


def get_rank_function(name: str) -> RankFunction:
    """The rank function called ``name``: one of ``'exp'``, ``'sigmoid'``, ``'logistic'``."""
    try:
        return RANK_FUNCTIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f'rank_fn must be one of {sorted(RANK_FUNCTIONS)}, '
                         f'got {name!r}') from None


def flat_value(rank_fn: str) -> float:
    """``L_rank(0)``: the value of a ranking term when all its scores are equal.

    Every pair term is then ``L_rank(0)``, and so is any weighted mean of them (the
    re-weighted global and class-specific terms, the IoU-guided mean over pairs); the
    sum over classes of Eq. (4) is that many times it.

    Returns:
        float: 1.0 for ``'exp'``, 0.5 for ``'sigmoid'``, log 2 for ``'logistic'``.

    Raises:
        ValueError: unknown ``rank_fn``.
    """
    return float(get_rank_function(rank_fn)(torch.zeros((), dtype=torch.float64)))
