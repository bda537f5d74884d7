"""CheckedKittiDataset: mmdet3d's KittiDataset whose point files are checked when it is built.

mmdet3d reads a scan only when a pipeline loads it: a missing scan stops training when
it is first drawn, maybe hours in; an empty one trains as a frame without points; a
truncated one fails in a reshape deep in the pipeline. This subclass checks every scan
(and, with ``modality.use_camera``, every image) before the first iteration and raises
one :class:`~rankdet.datasets.file_check.DataCheckError` naming each bad file. It is
otherwise KittiDataset (same infos, pipeline and evaluation)::

    train_dataloader = dict(dataset=dict(type='CheckedKittiDataset', check_files=True, ...))
"""
import logging
from typing import List, Union

from mmdet3d.datasets import KittiDataset
from mmdet3d.registry import DATASETS
from mmengine.logging import print_log

from .file_check import check_image_files, check_mode, check_point_files, entries_in_use

FLOAT32_BYTES = 4


@DATASETS.register_module()
class CheckedKittiDataset(KittiDataset):
    """KittiDataset that checks its point files (and images, if it loads them).

    Args:
        check_files (bool | str): check every file when the dataset is built: True or
            'fast' (a scan exists, is not empty and holds whole points; cached), 'decode'
            (also reads every value: all must be finite), False (no check).
        Others: KittiDataset's.

    A point's size is ``load_dim`` float32 values, ``load_dim`` taken from the
    pipeline's ``LoadPointsFromFile`` (else the infos' ``num_pts_feats``): 16 bytes for
    KITTI's x, y, z, intensity.

    Raises:
        rankdet.datasets.file_check.DataCheckError: files are missing or unusable.
    """

    def __init__(self, *args, check_files: Union[bool, str] = True, **kwargs):
        self.check_files = check_mode(check_files, type(self).__name__)
        super().__init__(*args, **kwargs)

    def _load_dim(self, data_list) -> int:
        for transform in getattr(self.pipeline, 'transforms', []):
            if type(transform).__name__ == 'LoadPointsFromFile':
                return int(transform.load_dim)
        return int(data_list[0]['lidar_points'].get('num_pts_feats', 4))

    def filter_data(self) -> List[dict]:
        data_list = super().filter_data()
        used = entries_in_use(self, data_list)
        if self.check_files is None or not used:
            return data_list
        if self.backend_args and self.backend_args.get('backend', 'local') != 'local':
            print_log(f'{type(self).__name__}: files on the '
                      f"{self.backend_args.get('backend')} backend are not checked before "
                      f'training', logger='current', level=logging.WARNING)
            return data_list
        owner = f'{type(self).__name__} ({self.ann_file})'
        echo = lambda line: print_log(line, logger='current')  # noqa: E731
        if self.modality.get('use_lidar', True):
            check_point_files([info['lidar_points']['lidar_path'] for info in used],
                              FLOAT32_BYTES * self._load_dim(used), self.check_files,
                              owner=owner, echo=echo)
        if self.modality.get('use_camera', False):
            images = [info['images'][self.default_cam_key]['img_path'] for info in used
                      if 'img_path' in info.get('images', {}).get(self.default_cam_key, {})]
            check_image_files(images, self.check_files, owner=owner, echo=echo)
        return data_list
