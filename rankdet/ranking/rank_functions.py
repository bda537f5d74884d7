"""The rank functions L_rank of RankDetNet (Liu et al., CVPR 2021, Sec. 3).

Eq. (2), (4) and (6) take a non-negative, monotonically increasing ``L_rank``; the paper
uses ``exp`` and Table 5(a) finds ``sigmoid`` and ``logistic`` about equal.
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
