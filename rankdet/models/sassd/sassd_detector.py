"""SA-SSD detector: mmdet3d's ``SASSD`` with the batch size taken from the inputs."""
from typing import Tuple, Union

from mmdet3d.models.detectors import SASSD
from mmdet3d.registry import MODELS
from torch import Tensor

__all__ = ['SASSDDetector']


@MODELS.register_module()
class SASSDDetector(SASSD):
    """``SASSD`` that counts the frames of a batch instead of reading the last voxel.

    mmdet3d's ``SASSD.extract_feat`` sets the batch size to the frame index of the last
    voxel plus one. A batch whose last frames have no point inside the range (or no
    point at all) then yields fewer BEV maps than frames and the head fails; a batch
    without any voxel fails outright. Here the batch size is the number of point clouds.
    Arguments are ``SASSD``'s.
    """

    def extract_feat(self, batch_inputs_dict: dict, test_mode: bool = True
                     ) -> Union[Tuple[Tuple[Tensor], Tuple], Tuple[Tensor]]:
        """BEV features, and in training the auxiliary predictions (see ``SASSD``).

        Args:
            batch_inputs_dict (dict): ``points`` (list of Tensor[N_i, C]) and ``voxels``
                (the data preprocessor's voxel dict).
            test_mode (bool): skip the auxiliary network.
        """
        voxel_dict = batch_inputs_dict['voxels']
        voxel_features = self.voxel_encoder(voxel_dict['voxels'], voxel_dict['num_points'],
                                            voxel_dict['coors'])
        batch_size = len(batch_inputs_dict['points'])
        x, point_misc = self.middle_encoder(voxel_features, voxel_dict['coors'], batch_size,
                                            test_mode)
        x = self.backbone(x)
        if self.with_neck:
            x = self.neck(x)
        return x if test_mode else (x, point_misc)
