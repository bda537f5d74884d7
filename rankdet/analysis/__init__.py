"""How a trained detector ranks its anchors: RankDetNet's Table 3 and Figure 3, and the
Spearman correlation between the confidence and the IoU of its positives."""
from .pair_statistics import PairStatistics
from .rank_correlation import spearman_correlation
from .score_figures import draw_figure3

__all__ = ['PairStatistics', 'draw_figure3', 'spearman_correlation']
