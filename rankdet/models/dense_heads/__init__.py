"""rankdet's mmdet dense heads; importing this registers them in mmdet's MODELS."""
from .rank_atss_head import RankATSSHead
from .rank_retina_head import RankRetinaHead
from .ranking_loss_mixin import RankingLossMixin

__all__ = ['RankRetinaHead', 'RankATSSHead', 'RankingLossMixin']
