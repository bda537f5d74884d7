"""The data of ``make demo``: synthetic sets a small detector learns in minutes on a CPU.

The evidence sets (``tools/compare.py``) are hard on purpose: small shapes among clutter
and occlusion, cars out to 45 m. They measure. The demo's sets show: the same generators
with easy settings, so that a RetinaNet and an SA-SSD trained for a few minutes on two
cores find the objects of held-out images and frames.

2D (``DEMO_COCO``): three shape classes whose outlines differ most (circle, square,
triangle), three to five per image, large (radius 18 px to 0.35 of the image's shorter
side: 36 px across up to 70 % of the image), no clutter, at most 15 % hidden, small
images (96-128 px, shown at their own size: fast). Measured on two cores (RetinaNet of
the evidence configs, anchors from 32 px, 1200 iterations of 4 images, AdamW 1e-3 with
cosine decay; val COCO AP / AP50): these settings 0.327 / 0.479; five classes with one
to four shapes of radius 14 px up and some clutter reached 0.300 / 0.445 only after
2400 iterations (three classes, two to four shapes, radius 16 px up: 0.245 / 0.372 at
2000), and 0.012 / 0.039 after 600 at the evidence's resolution; a learning rate of 2e-3
was worse (0.110 / 0.198 at 1200).

3D (``DEMO_KITTI``): cars within 5-20 m of the sensor (dense returns: the 64-beam LiDAR
puts hundreds of points on each), two to six per frame, a few poles and walls. SA-SSD
(the demo's lite config) reached Car BEV AP40 (moderate) 24.4 after 300 iterations.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from data_converters.synthetic import CocoShapesConfig, KittiSceneConfig

DEMO_COCO = CocoShapesConfig(
    num_train=1000, num_val=200, seed=0, num_classes=3, min_size=96, max_size=128,
    min_objects=3, max_objects=5, min_clutter=0, max_clutter=0, max_occlusion=0.15,
    min_radius=18.0, max_radius_ratio=0.35)
DEMO_KITTI = KittiSceneConfig(
    num_train=120, num_val=40, num_test=0, seed=0, min_cars=2, max_cars=6,
    min_distance=5.0, max_distance=20.0, min_clutter=2, max_clutter=6)

# the test suite's profile: the same settings, a handful of samples
TINY_COCO = replace(DEMO_COCO, num_train=8, num_val=4)
TINY_KITTI = replace(DEMO_KITTI, num_train=4, num_val=2)


def demo_sets(data_root, profile: str = 'demo', progress: bool = False,
              workers: int = 2) -> dict:
    """The demo's synthetic sets under ``data_root`` (``coco/`` and ``kitti/``, the
    latter converted to mmdet3d infos with a GT database), written unless a set with the
    same settings is there already; a set written by the generators with other settings
    is replaced.

    Returns:
        dict: ``coco`` and ``kitti`` roots (Path).
    """
    from data_converters.kitti_converter import kitti_data_prep
    from apps.synthetic_record import same_synthetic_record
    from data_converters.synthetic import generate_coco, generate_kitti

    if profile not in ('demo', 'tiny'):
        raise ValueError(f"profile must be 'demo' or 'tiny', got {profile!r}")
    coco_cfg, kitti_cfg = (DEMO_COCO, DEMO_KITTI) if profile == 'demo' else (
        TINY_COCO, TINY_KITTI)
    data_root = Path(data_root)
    coco, kitti = data_root / 'coco', data_root / 'kitti'
    same = same_synthetic_record(coco, coco_cfg)
    if not same:
        generate_coco(coco, coco_cfg, overwrite=same is not None, progress=progress,
                      workers=workers)
    same = same_synthetic_record(kitti, kitti_cfg)
    if not same:
        generate_kitti(kitti, kitti_cfg, overwrite=same is not None, progress=progress,
                       workers=workers)
    if not same or not (kitti / 'kitti_infos_val.pkl').is_file() or not (
            kitti / 'kitti_dbinfos_train.pkl').is_file():
        kitti_data_prep(kitti, progress=progress)
    return dict(coco=coco, kitti=kitti)


def settings_line(kind: str, profile: str = 'demo') -> str:
    """One line saying what a demo set holds (``kind``: ``coco`` or ``kitti``)."""
    if kind == 'coco':
        cfg = DEMO_COCO if profile == 'demo' else TINY_COCO
        return (f'2D shapes: {cfg.num_train} train + {cfg.num_val} val images of '
                f'{cfg.min_size}-{cfg.max_size} px, {cfg.min_objects}-{cfg.max_objects} of '
                f'{cfg.num_classes} classes ({", ".join(c["name"] for c in cfg.categories)})')
    cfg = DEMO_KITTI if profile == 'demo' else TINY_KITTI
    return (f'3D LiDAR: {cfg.num_train} train + {cfg.num_val} val frames, '
            f'{cfg.min_cars}-{cfg.max_cars} cars at {cfg.min_distance:g}-'
            f'{cfg.max_distance:g} m, {cfg.lidar.num_beams} beams')
