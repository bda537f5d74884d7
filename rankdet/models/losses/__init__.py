"""rankdet's mmdet losses; importing this registers them in mmdet's MODELS."""
from .ranking_loss import RankingLoss

__all__ = ['RankingLoss']
