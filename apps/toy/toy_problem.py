"""A fixed toy detection-scoring problem, to show a loss lowers the reverse-pair ratios.

Anchors are points in R^D. Foreground anchors of class c lie around a class centre;
background anchors around the origin, a few of them near a centre (hard negatives).
Each foreground anchor has a fixed "IoU" that depends on its offset from the centre,
so a scorer can learn to rank positives by localisation quality. A small MLP maps an
anchor to C class logits, as a detector's classification branch does. Used by the
tests (ranking losses must lower the Table 3 ratios) and tools/benchmark_losses.py
(ranking versus focal loss on the same scorer).
"""
from typing import Callable, Dict, NamedTuple

import torch
from torch import Tensor, nn

from rankdet.ranking import (class_ranking_loss, global_ranking_loss, iou_ranking_loss,
                             reverse_pair_ratios)


class ToyProblem(NamedTuple):
    features: Tensor  # [A, D]
    labels: Tensor    # [A]: 0..C-1 foreground, C background, -1 ignored
    ious: Tensor      # [A]: IoU of foreground anchors (0 elsewhere)
    num_classes: int


def make_toy_problem(seed: int = 0, num_anchors: int = 3000, num_classes: int = 3,
                     dim: int = 8, fg_fraction: float = 0.15,
                     ignore_fraction: float = 0.05) -> ToyProblem:
    """The fixed toy problem of ``seed`` (same seed, same problem on every machine)."""
    gen = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(num_classes, dim, generator=gen)  # [C, D]
    quality_dir = torch.nn.functional.normalize(torch.randn(dim, generator=gen), dim=0)
    kind = torch.rand(num_anchors, generator=gen)
    labels = torch.full((num_anchors,), num_classes, dtype=torch.long)
    fg = kind < fg_fraction
    labels[fg] = torch.randint(0, num_classes, (int(fg.sum()),), generator=gen)
    labels[kind > 1 - ignore_fraction] = -1
    noise = torch.randn(num_anchors, dim, generator=gen)
    features = noise.clone()
    features[fg] += centres[labels[fg]]
    # hard negatives: background near a class centre
    hard = (labels == num_classes) & (torch.rand(num_anchors, generator=gen) < 0.2)
    hard_class = torch.randint(0, num_classes, (int(hard.sum()),), generator=gen)
    features[hard] += 0.7 * centres[hard_class]
    # a positive is better localised the further its offset goes along quality_dir
    ious = torch.where(fg, torch.sigmoid(2.0 * noise @ quality_dir), torch.zeros(()))
    return ToyProblem(features, labels, ious, num_classes)


def make_toy_scorer(problem: ToyProblem, seed: int = 0, hidden: int = 32) -> nn.Module:
    """A small MLP from features to class logits, initialised from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(problem.features.shape[1], hidden), nn.ReLU(),
                         nn.Linear(hidden, problem.num_classes))


def toy_ratios(scorer: nn.Module, problem: ToyProblem) -> Dict[str, float]:
    """F-B, P-N and P-P reverse-pair ratios of ``scorer`` on ``problem``."""
    with torch.no_grad():
        logits = scorer(problem.features)
    return reverse_pair_ratios(logits, problem.labels, ious=problem.ious, from_logits=True)


def train_toy_scorer(scorer: nn.Module, problem: ToyProblem,
                     loss_fn: Callable[[Tensor, ToyProblem], Tensor], steps: int = 150,
                     lr: float = 0.01) -> nn.Module:
    """Full-batch Adam on ``loss_fn(logits [A, C], problem)`` for ``steps`` steps."""
    optimizer = torch.optim.Adam(scorer.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(scorer(problem.features), problem).backward()
        optimizer.step()
    return scorer


def ranking_toy_loss(logits: Tensor, problem: ToyProblem, **kwargs) -> Tensor:
    """The three ranking losses (paper defaults) of the toy problem, weights 1:1:1."""
    labels = problem.labels
    loss = (global_ranking_loss(logits, labels, from_logits=True, **kwargs)
            + class_ranking_loss(logits, labels, from_logits=True, **kwargs))
    pos = (labels >= 0) & (labels < problem.num_classes)
    pos_scores = logits[pos, labels[pos]].sigmoid()
    return loss + iou_ranking_loss(pos_scores, problem.ious[pos], labels[pos])
