"""Input checks shared by the ranking losses: bad scores or labels fail loudly, by name.

One ``aminmax`` pass per tensor: NaN propagates through it and +/-inf land in the min or
max, so a single reduction detects every invalid value.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor

#: what the ranking losses compare: sigmoid probabilities (the paper) or raw logits
SCORE_SPACES = ('prob', 'logit')
#: how a group of mined negatives counts: as one negative (the paper) or by its size
GROUP_WEIGHTINGS = ('bin', 'size')
#: how the class-specific loss combines an image's classes: Eq. (4)'s sum, or a mean
CLASS_REDUCTIONS = ('sum', 'mean')


def check_scores(scores: Tensor, name: str, from_logits: bool = False) -> None:
    """Raise ValueError unless ``scores`` are finite logits or probabilities in [0, 1]."""
    if not isinstance(scores, Tensor) or not scores.is_floating_point():
        raise ValueError(f'{name} must be a floating-point torch.Tensor, '
                         f'got {type(scores).__name__}'
                         + (f' of dtype {scores.dtype}' if isinstance(scores, Tensor) else ''))
    if scores.numel() == 0:
        return
    low, high = torch.aminmax(scores.detach())
    low, high = low.item(), high.item()
    if low != low or high != high:  # NaN
        raise ValueError(f'{name} contains NaN')
    kind = 'logits' if from_logits else 'probabilities in [0, 1]'
    if low == float('-inf') or high == float('inf'):
        raise ValueError(f'{name} must be finite {kind}, found values in [{low}, {high}]')
    if not from_logits and (low < 0 or high > 1):
        raise ValueError(f'{name} must be {kind} (apply sigmoid to logits first, or pass '
                         f'from_logits=True where offered), found values in [{low}, {high}]')


def check_labels(labels: Tensor, num_classes: int, name: str = 'labels') -> None:
    """Raise ValueError unless ``labels`` are integers in -1 (ignored) .. num_classes (bg)."""
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.is_complex() \
            or labels.dtype == torch.bool:
        raise ValueError(f'{name} must be an integer torch.Tensor, got '
                         + (str(labels.dtype) if isinstance(labels, Tensor)
                            else type(labels).__name__))
    if labels.numel() == 0:
        return
    low, high = torch.aminmax(labels)
    if low.item() < -1 or high.item() > num_classes:
        raise ValueError(f'{name} must hold 0..{num_classes - 1} for positives, '
                         f'{num_classes} for background and -1 for ignored samples, found '
                         f'values in [{low.item()}, {high.item()}]')


def check_shape(tensor: Tensor, name: str, shape: Sequence[Optional[int]],
                shape_text: str) -> None:
    """Raise ValueError unless ``tensor.shape`` matches ``shape`` (None matches any size)."""
    if not isinstance(tensor, Tensor):
        raise ValueError(f'{name} must be a torch.Tensor of shape {shape_text}, '
                         f'got {type(tensor).__name__}')
    if tensor.dim() != len(shape) or any(
            want is not None and got != want for got, want in zip(tensor.shape, shape)):
        raise ValueError(f'{name} must have shape {shape_text}, got {tuple(tensor.shape)}')


def check_choice(value, name: str, choices: Sequence) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {list(choices)}, got {value!r}')
