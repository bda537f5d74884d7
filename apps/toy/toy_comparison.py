"""Focal loss vs the ranking losses on the fixed toy scorer problem (Table 3 ratios).

Shared by ``make demo`` (tools/demo.py) and tools/benchmark_losses.py, so both print the
same comparison.
"""
from .toy_problem import (ToyProblem, make_toy_problem, make_toy_scorer, ranking_toy_loss,
                          toy_ratios, train_toy_scorer)


def focal_toy_loss(logits, problem: ToyProblem):
    """mmdet's sigmoid focal loss (gamma 2, alpha 0.25) per positive, as RetinaNet uses it."""
    from mmdet.models.losses import FocalLoss

    labels = problem.labels
    target = labels.masked_fill(labels < 0, problem.num_classes)
    num_pos = float(((labels >= 0) & (labels < problem.num_classes)).sum())
    focal = FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25)
    return focal(logits, target, (labels >= 0).float(), avg_factor=max(num_pos, 1.0))


def compare_toy_losses(seed: int = 0, steps: int = 150):
    """Train the same toy scorer with each loss; return ``[(name, {F-B, P-N, P-P})]``."""
    problem = make_toy_problem(seed=seed)
    rows = [('untrained', toy_ratios(make_toy_scorer(problem, seed), problem))]
    for name, loss_fn in [('focal loss', focal_toy_loss),
                          ('ranking losses (group)', ranking_toy_loss),
                          ('ranking losses (OHEM)',
                           lambda logits, p: ranking_toy_loss(logits, p, mining='ohem'))]:
        scorer = train_toy_scorer(make_toy_scorer(problem, seed), problem, loss_fn,
                                  steps=steps)
        rows.append((name, toy_ratios(scorer, problem)))
    return rows
