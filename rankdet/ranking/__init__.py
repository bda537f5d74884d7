"""RankDetNet's ranking losses (Liu et al., CVPR 2021) in plain PyTorch.

The global (Eq. 2), class-specific (Eq. 4) and IoU-guided (Eq. 6) ranking losses, the
pairwise loss and negative mining they share, and the reverse-pair ratios of Table 3.
Switches beyond the paper (its behaviour is every default): ``class_reduction``,
``group_weighting``, ``score_space``; ``flat_value(rank_fn)`` is L_rank(0), the value of a
term whose scores are all equal.
No OpenMMLab import: the loss module is ``rankdet.models.common.RankingLoss``, registered
with mmdet and mmdet3d by ``rankdet.models.losses``.
Equations, the decisions the paper leaves open and the switches: docs/method.md.
"""
from .class_loss import class_ranking_loss
from .global_loss import global_ranking_loss
from .iou_loss import IOU_BP_MODES, iou_ranking_loss
from .mining import MINING_MODES, mine_negatives
from .pairwise import pairwise_rank_loss
from .rank_functions import RANK_FUNCTIONS, flat_value, get_rank_function
from .reverse_pairs import REVERSE_PAIR_TYPES, reverse_pair_counts, reverse_pair_ratios
from .validation import CLASS_REDUCTIONS, GROUP_WEIGHTINGS, SCORE_SPACES

__all__ = [
    'pairwise_rank_loss', 'mine_negatives', 'global_ranking_loss', 'class_ranking_loss',
    'iou_ranking_loss', 'reverse_pair_counts', 'reverse_pair_ratios', 'get_rank_function',
    'RANK_FUNCTIONS', 'MINING_MODES', 'IOU_BP_MODES', 'REVERSE_PAIR_TYPES', 'flat_value',
    'CLASS_REDUCTIONS', 'GROUP_WEIGHTINGS', 'SCORE_SPACES',
]
