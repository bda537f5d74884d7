"""What ``tools/compare.py`` runs: pairs of detectors (a focal baseline and its ranking
twin), their data, lengths and seeds, and the ablation's loss variants.

Every pair follows METHOD.md's warm start: the focal config trains ``iters`` iterations
from random weights (``warm``), then two runs start from that checkpoint with a fresh
schedule of ``iters`` iterations: ``focal`` (the baseline, trained on) and ``rank`` (the
ranking losses). Both continuations share the seed, so they see the same images in the
same order with the same augmentation; only the loss differs.

Profiles:
    ``evidence``: ``make evidence`` (at most an hour on two cores).
    ``ablation``: ``make ablation``, Table 4's rows on the synthetic 2D set.
    ``long-warm-start``: the synthetic 2D pair from a warm start twice as long and a
        shorter continuation, nearer the paper's fine-tuning of a trained detector.
    ``tiny``: the same pipeline in a minute or two, for the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

CONFIGS_2D = 'configs2d/evidence'
CONFIGS_3D = 'configs3d'


@dataclass(frozen=True)
class DataSpec:
    """The data sets a profile uses.

    ``coco_train``/``coco_val``: synthetic COCO-format shapes (tools/make_synthetic.py coco);
    ``kitti_train``/``kitti_val``: synthetic KITTI-format frames (make_synthetic.py kitti).
    """

    coco_train: int
    coco_val: int
    kitti_train: int
    kitti_val: int


@dataclass(frozen=True)
class Pair:
    """A focal detector and its ranking twin, compared on one data set.

    Attributes:
        name: folder and table name, e.g. ``2d-synthetic``.
        kind: ``2d`` (mmdet, COCO metric) or ``3d`` (mmdet3d, KITTI metric).
        focal_config, rank_config: the two configs (paths from the repository root).
        data: ``coco-synthetic``, ``coco128`` or ``kitti-synthetic``.
        iters: length of each continuation (and of the warm start, unless
            ``warm_iters`` is set).
        seeds: one comparison per seed.
        cfg_options: ``--cfg-options`` for both sides (tiny profiles shrink batches).
        analysis_max_images: pair analysis on the first images of the test set only.
        description: one line for the report.
        warm_iters: length of the warm start, if not ``iters``.
    """

    name: str
    kind: str
    focal_config: str
    rank_config: str
    data: str
    iters: int
    seeds: Tuple[int, ...]
    cfg_options: Dict = field(default_factory=dict)
    analysis_max_images: int | None = None
    description: str = ''
    warm_iters: int | None = None

    @property
    def warm_length(self) -> int:
        return self.warm_iters or self.iters


@dataclass(frozen=True)
class Variant:
    """An ablation row: the ranking config with some ``RankingLoss`` arguments changed."""

    name: str
    label: str
    loss_cls: Dict = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """A profile: its data, pairs and (for the ablation) loss variants."""

    profile: str
    data: DataSpec
    pairs: Tuple[Pair, ...]
    variants: Tuple[Variant, ...] = ()
    gradient_batches: int = 4


SYNTHETIC_2D = dict(
    name='2d-synthetic', kind='2d',
    focal_config=f'{CONFIGS_2D}/retinanet_r18-w32_fpn_synthetic-160.py',
    rank_config=f'{CONFIGS_2D}/rank-retinanet_r18-w32_fpn_synthetic-160.py',
    data='coco-synthetic',
    description='RetinaNet R18 (half width) on synthetic shapes, 5 classes, held-out '
                'validation images')
COCO128 = dict(
    name='coco128', kind='2d',
    focal_config=f'{CONFIGS_2D}/retinanet_r18-w32_fpn_coco128-320.py',
    rank_config=f'{CONFIGS_2D}/rank-retinanet_r18-w32_fpn_coco128-320.py',
    data='coco128',
    description='RetinaNet R18 (half width) on coco128, 80 classes; validation = '
                'training images (a fitting check)')
SYNTHETIC_3D = dict(
    name='3d-synthetic', kind='3d',
    focal_config=f'{CONFIGS_3D}/sassd_pswarp_cpu-demo_synthetic-3d-car.py',
    rank_config=f'{CONFIGS_3D}/rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py',
    data='kitti-synthetic',
    description='SA-SSD (PSWarp, CPU-demo range and voxels) on synthetic LiDAR frames, '
                'car, held-out validation frames')

ABLATION_VARIANTS = (
    Variant('rank', 'all three terms (group mining, lower IoU detached)'),
    Variant('no-global', 'without the global term', dict(use_global=False)),
    Variant('no-class', 'without the class-specific term', dict(use_class=False)),
    Variant('no-iou', 'without the IoU-guided term', dict(use_iou=False)),
    Variant('ohem', 'OHEM instead of group mining', dict(mining='ohem')),
    Variant('iou-bp-both', 'IoU back-propagation rule off (gradient through both IoUs)',
            dict(iou_bp='both')),
)

PROFILES = ('evidence', 'ablation', 'long-warm-start', 'tiny', 'tiny-ablation')


def make_plan(profile: str) -> Plan:
    """The :class:`Plan` of a profile (see the module docstring)."""
    if profile == 'evidence':
        return Plan(profile, DataSpec(2000, 500, 200, 100), (
            Pair(**SYNTHETIC_2D, iters=800, seeds=(0, 1, 2)),
            Pair(**COCO128, iters=120, seeds=(0,)),
            Pair(**SYNTHETIC_3D, iters=150, seeds=(0, 1, 2)),
        ))
    if profile == 'ablation':
        return Plan(profile, DataSpec(2000, 500, 200, 100),
                    (Pair(**SYNTHETIC_2D, iters=800, seeds=(0,)),),
                    variants=ABLATION_VARIANTS)
    if profile == 'long-warm-start':
        return Plan(profile, DataSpec(2000, 500, 200, 100), (
            Pair(**dict(SYNTHETIC_2D, name='2d-synthetic-long-warm-start'), warm_iters=1600,
                 iters=400, seeds=(0, 1, 2)),))
    tiny_2d = dict(SYNTHETIC_2D, iters=2, seeds=(0,),
                   cfg_options={'train_dataloader.batch_size': 2})
    if profile == 'tiny':
        return Plan(profile, DataSpec(8, 4, 4, 2), (
            Pair(**tiny_2d),
            Pair(**dict(SYNTHETIC_3D, iters=2, seeds=(0,))),
        ), gradient_batches=1)
    if profile == 'tiny-ablation':
        return Plan(profile, DataSpec(8, 4, 4, 2), (Pair(**tiny_2d),),
                    variants=ABLATION_VARIANTS[:2], gradient_batches=1)
    raise ValueError(f'unknown profile {profile!r}; expected one of {PROFILES}')
