"""rankdet's mmengine hooks; importing this registers them in mmengine's root HOOKS,
where mmdet-scope and mmdet3d-scope configs both find them."""
from .ranking_health_hook import RankingHealthHook

__all__ = ['RankingHealthHook']
