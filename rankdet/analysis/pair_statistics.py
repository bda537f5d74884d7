"""Reverse-pair ratios (RankDetNet Table 3) and score distributions (Figure 3), pooled
over a data set one batch at a time.

Liu et al., "RankDetNet: Delving into Ranking Constraints for Object Detection", CVPR 2021.
Samples are a dense head's anchors with the labels of its own assigner (see
:mod:`rankdet.models.dense_heads.ranking_targets`). Counts come from
:func:`rankdet.ranking.reverse_pair_counts` and are summed, so the ratios pool the pairs
of all images as Table 3 does; P-P pools pyramid levels (Table 3 does not separate
them). Distributions are kept as fixed-bin histograms, so memory does not grow with
the data set; only the (IoU, confidence) points of the positives are kept (tens per
image), for the Spearman correlation and the scatter plot.
"""
from typing import Dict, List

import torch
from torch import Tensor

from rankdet.ranking import REVERSE_PAIR_TYPES, reverse_pair_counts
from .rank_correlation import spearman_correlation

HISTOGRAMS = ('foreground', 'background', 'positive', 'negative')


class PairStatistics:
    """Accumulates Table 3's reverse pairs and Figure 3's distributions.

    Args:
        num_classes (int): C.
        class_index (int): the class of Figure 3's second and third rows (the paper
            shows 'person').
        bins (int): histogram bins over confidence [0, 1].
    """

    def __init__(self, num_classes: int, class_index: int, bins: int = 50) -> None:
        if not 0 <= class_index < num_classes:
            raise ValueError(f'class_index must be in 0..{num_classes - 1}, '
                             f'got {class_index}')
        self.num_classes, self.class_index, self.bins = num_classes, class_index, bins
        self.reverse = {name: 0.0 for name in REVERSE_PAIR_TYPES}
        self.pairs = {name: 0.0 for name in REVERSE_PAIR_TYPES}
        self.histograms = {name: torch.zeros(bins, dtype=torch.float64)
                           for name in HISTOGRAMS}
        # every positive (all classes): its class, confidence for it, IoU with its box
        self._positive_labels: List[Tensor] = []
        self._positive_scores: List[Tensor] = []
        self._positive_ious: List[Tensor] = []
        self.num_images = 0

    def update(self, logits: Tensor, labels: Tensor, ious: Tensor) -> None:
        """Add a batch.

        Args:
            logits (Tensor[N, A, C]): class logits of all anchors of each image.
            labels (Tensor[N, A]): 0..C-1 positive, C background, -1 ignored.
            ious (Tensor[N, A]): IoU of each positive's decoded box with its ground truth.
        """
        logits, ious = logits.detach().float(), ious.detach().float()
        for name, (reverse, total) in reverse_pair_counts(
                logits, labels, ious=ious, from_logits=True).items():
            self.reverse[name] += reverse.item()
            self.pairs[name] += total.item()
        scores = logits.sigmoid()  # [N, A, C]
        positive = (labels >= 0) & (labels < self.num_classes)  # [N, A]
        c = self.class_index
        class_positive = labels == c
        class_negative = (labels >= 0) & (labels != c)
        positive_labels = labels[positive]
        foreground = scores[positive].gather(1, positive_labels[:, None])[:, 0]
        self._add('foreground', foreground)
        self._add('background', scores[labels == self.num_classes].max(dim=1).values)
        self._add('positive', scores[..., c][class_positive])
        self._add('negative', scores[..., c][class_negative])
        self._positive_labels.append(positive_labels.cpu())
        self._positive_scores.append(foreground.cpu())
        self._positive_ious.append(ious[positive].cpu())
        self.num_images += logits.size(0)

    def _add(self, name: str, values: Tensor) -> None:
        self.histograms[name] += torch.histc(values.double().cpu(), self.bins, 0, 1)

    def ratios(self) -> Dict[str, float]:
        """``{'F-B': ratio, 'P-N': ratio, 'P-P': ratio}``; NaN for a type without pairs."""
        return {name: self.reverse[name] / self.pairs[name] if self.pairs[name] > 0
                else float('nan') for name in REVERSE_PAIR_TYPES}

    @property
    def num_positives(self) -> int:
        """Positives seen so far, all classes."""
        return sum(len(labels) for labels in self._positive_labels)

    def positive_points(self) -> Dict[str, Tensor]:
        """Every positive so far, all classes, in the order seen: ``label``
        (LongTensor[P]), ``score`` (confidence of its class, Tensor[P]) and ``iou``
        (with its ground truth, Tensor[P])."""
        def cat(parts, dtype):
            return torch.cat(parts) if parts else torch.zeros(0, dtype=dtype)

        return {'label': cat(self._positive_labels, torch.long),
                'score': cat(self._positive_scores, torch.float32),
                'iou': cat(self._positive_ious, torch.float32)}

    def class_points(self) -> Dict[str, Tensor]:
        """IoU and confidence of every positive of the chosen class: Tensor[P] each."""
        points = self.positive_points()
        of_class = points['label'] == self.class_index
        return {'iou': points['iou'][of_class], 'score': points['score'][of_class]}

    def spearman(self) -> float:
        """Spearman correlation between confidence and IoU over all positives, pooled
        over classes and images; NaN with fewer than two positives or a constant one."""
        points = self.positive_points()
        return spearman_correlation(points['iou'], points['score'])
