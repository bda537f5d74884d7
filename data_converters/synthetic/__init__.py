"""Synthetic data sets: COCO-format shapes (2D) and KITTI-format spinning-LiDAR scans (3D)."""
from .coco_shapes import SHAPES, CocoShapesConfig, generate_coco, make_image
from .kitti_lidar import KittiSceneConfig, LidarModel, generate_kitti, make_frame

__all__ = ['SHAPES', 'CocoShapesConfig', 'KittiSceneConfig', 'LidarModel', 'generate_coco',
           'generate_kitti', 'make_frame', 'make_image']
