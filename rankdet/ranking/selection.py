"""The few confidences the ranking losses read from a dense ``[B, A, C]`` score map.

The losses never need the whole map: the global loss reads each background anchor's
highest score and each foreground anchor's ground-truth-class score; the class-specific
loss reads, for each (image, class present) pair, that class's column; the IoU-guided
loss reads the positives' scores again. Selecting them all at once (the argmax class,
then the classes present in the image) keeps the backward pass to a single zero map of
the input's size, the one full-size tensor the losses allocate, and lets sigmoid run on
the selected entries only (it is increasing, so it commutes with the max).
"""
from typing import NamedTuple

import torch
from torch import Tensor


class _GatherTopAndClasses(torch.autograd.Function):
    """``scores[b, a, top[b, a]]`` and ``scores[b, a, classes[b, j]]`` for all j, with one
    zero map in backward (two plain gathers would allocate two) and the class index
    broadcast over anchors rather than materialised."""

    @staticmethod
    def forward(ctx, scores: Tensor, top_index: Tensor, classes: Tensor):
        num_images, num_anchors, _ = scores.shape
        class_index = classes[:, None, :].expand(num_images, num_anchors, classes.shape[1])
        ctx.save_for_backward(top_index, classes)
        ctx.shape = scores.shape
        return scores.gather(2, top_index)[:, :, 0], scores.gather(2, class_index)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_top: Tensor, grad_classes: Tensor):
        top_index, classes = ctx.saved_tensors
        num_images, num_anchors, _ = ctx.shape
        class_index = classes[:, None, :].expand(num_images, num_anchors, classes.shape[1])
        grad = grad_top.new_zeros(ctx.shape)  # [B, A, C]
        grad.scatter_add_(2, top_index, grad_top[:, :, None])
        grad.scatter_add_(2, class_index, grad_classes)
        return grad, None, None


class ScoreSelection(NamedTuple):
    """Selected confidences of a batch: f = probabilities in [0, 1], or the logits
    themselves when selected without sigmoid (the logit score space)."""
    labels: Tensor          # [B, A]: 0..C-1 positive, C background, -1 ignored
    num_classes: int        # C
    max_scores: Tensor      # [B, A]: max_c f_c(a), the score of a background sample
    problem_image: Tensor   # [K]: image of each (image, class present) problem
    problem_class: Tensor   # [K]: class of each problem
    columns: Tensor         # [K, A]: f_{c_k}(a) for every anchor a of image b_k
    pos_image: Tensor       # [P]: image of each positive
    pos_anchor: Tensor      # [P]: anchor of each positive
    pos_label: Tensor       # [P]: class of each positive
    pos_problem: Tensor     # [P]: problem (image, class) of each positive
    pos_scores: Tensor      # [P]: f_{label}(anchor), the positive's ground-truth score


def select_scores(cls_scores: Tensor, labels: Tensor, from_logits: bool = False) -> ScoreSelection:
    """Select the confidences the ranking losses use (no validation).

    Args:
        cls_scores (Tensor[B, A, C]): probabilities, or logits with ``from_logits``.
        labels (Tensor[B, A]): 0..C-1 positive, C background, -1 ignored.
        from_logits (bool): apply sigmoid to the selected entries (False for logits
            ranked as logits, ``score_space='logit'``).

    Returns:
        ScoreSelection: K = number of distinct (image, positive class) pairs, P = number
        of positives, in row-major order of ``labels``.
    """
    num_images, num_anchors, num_classes = cls_scores.shape
    pos_image, pos_anchor = ((labels >= 0) & (labels < num_classes)).nonzero(as_tuple=True)
    pos_label = labels[pos_image, pos_anchor]
    keys, pos_problem = torch.unique(pos_image * num_classes + pos_label,
                                     return_inverse=True)  # [K] sorted by image, [P]
    problem_image, problem_class = keys // num_classes, keys % num_classes
    # slot of each problem among its image's problems
    per_image = torch.bincount(problem_image, minlength=num_images)  # [B]
    max_per_image = int(per_image.max().item()) if keys.numel() else 0
    slot = (torch.arange(keys.numel(), device=keys.device)
            - (torch.cumsum(per_image, 0) - per_image)[problem_image])  # [K]
    with torch.no_grad():
        top_index = cls_scores.max(dim=2, keepdim=True).indices  # [B, A, 1]
        classes = torch.zeros(num_images, max_per_image, dtype=torch.long,
                              device=keys.device)
        classes[problem_image, slot] = problem_class  # [B, Kmax], padded with class 0
    max_scores, image_columns = _GatherTopAndClasses.apply(cls_scores, top_index,
                                                           classes)  # [B, A], [B, A, Kmax]
    columns = image_columns[problem_image, :, slot]  # [K, A]
    if from_logits:
        max_scores, columns = max_scores.sigmoid(), columns.sigmoid()
    return ScoreSelection(labels, num_classes, max_scores, problem_image, problem_class,
                          columns, pos_image, pos_anchor, pos_label, pos_problem,
                          columns[pos_problem, pos_anchor])
