"""How a trained detector ranks its anchors: RankDetNet's Table 3 and Figure 3."""
from .pair_statistics import PairStatistics
from .score_figures import draw_figure3

__all__ = ['PairStatistics', 'draw_figure3']
