"""Spearman's rank correlation: how well a detector's confidence orders its positives by
localisation quality (the aim of RankDetNet's IoU-guided loss, Eq. 6).

Ranks are computed in float64 with numpy; ties take the mean of the ranks they span,
as ``scipy.stats.spearmanr`` does, so that a model with many equal scores (an untrained
one) is not credited with an arbitrary order.
"""
import math
from typing import Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray]


def _as_vector(values: ArrayLike, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    elif isinstance(values, np.ndarray):
        values = values.astype(np.float64)
    else:
        raise TypeError(f'spearman_correlation expects {name} as a torch.Tensor or a numpy '
                        f'array, got {type(values).__name__}')
    if values.ndim != 1:
        raise ValueError(f'spearman_correlation expects {name} of shape (N,), got shape '
                         f'{tuple(values.shape)}')
    if np.isnan(values).any():
        raise ValueError(f'spearman_correlation: {name} contains NaN at positions '
                         f'{np.flatnonzero(np.isnan(values))[:5].tolist()} (first five)')
    return values


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` (N,), tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind='stable')
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    # a run of k equal values at sorted positions first .. first+k-1 (0-based) has the
    # ranks first+1 .. first+k, whose mean is first + (k + 1) / 2
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def spearman_correlation(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rank correlation of paired samples ``x[i], y[i]``.

    The Pearson correlation of the average ranks R(x), R(y)::

        rho = sum_i (R(x_i) - mean R(x)) (R(y_i) - mean R(y))
              / sqrt(sum_i (R(x_i) - mean R(x))^2 * sum_i (R(y_i) - mean R(y))^2)

    Without ties this is 1 - 6 sum_i d_i^2 / (n (n^2 - 1)), d_i = R(x_i) - R(y_i).

    Args:
        x (Tensor[N] or ndarray[N]): e.g. the IoU of each positive with its ground truth.
        y (Tensor[N] or ndarray[N]): e.g. the confidence of each positive.

    Returns:
        float: rho in [-1, 1]; NaN for fewer than 2 samples or when x or y is constant
        (its ranks have no variance), as scipy does.
    """
    x, y = _as_vector(x, 'x'), _as_vector(y, 'y')
    if len(x) != len(y):
        raise ValueError(f'spearman_correlation expects x and y of the same length, got '
                         f'{len(x)} and {len(y)}')
    if len(x) < 2:
        return math.nan
    rx, ry = average_ranks(x), average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denominator = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if denominator == 0:
        return math.nan
    return float(np.clip(float(rx @ ry) / denominator, -1.0, 1.0))
