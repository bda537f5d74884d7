"""SA-SSD (He et al., CVPR 2020) on mmdet3d 1.4, trainable on the CPU; importing this
registers its modules in mmdet3d's MODELS.

- :class:`SASSDDetector`: mmdet3d's ``SASSD``, batch size from the inputs;
- :class:`SparseEncoderSASSDTorch`: the sparse encoder with a plain-PyTorch auxiliary
  network (point segmentation and centre offsets, training only);
- :class:`PSWarpHead`: the anchor head with part-sensitive warping, focal loss;
- :class:`RankPSWarpHead`: the same head trained with RankDetNet's ranking losses.
"""
from .pswarp_head import PSWarpHead
from .rank_pswarp_head import RankPSWarpHead
from .sassd_detector import SASSDDetector
from .sparse_encoder_torch import SparseEncoderSASSDTorch

__all__ = ['PSWarpHead', 'RankPSWarpHead', 'SASSDDetector', 'SparseEncoderSASSDTorch']
