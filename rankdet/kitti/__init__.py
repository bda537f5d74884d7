"""KITTI 3D object files: labels, calibration, point clouds, and box frame conversion."""
from .box_transform import camera_to_lidar_boxes, lidar_to_camera_boxes, limit_period
from .calib import KittiCalib, read_calib, write_calib
from .label import KittiLabels, read_label, write_label
from .points import read_points, write_points

__all__ = ['KittiCalib', 'KittiLabels', 'camera_to_lidar_boxes', 'lidar_to_camera_boxes',
           'limit_period', 'read_calib', 'read_label', 'read_points', 'write_calib',
           'write_label', 'write_points']
