"""SA-SSD's sparse encoder with its auxiliary network in plain PyTorch (CPU and CUDA).

mmdet3d 1.4's ``SparseEncoderSASSD`` trains only on CUDA (mmcv's ``points_in_boxes_all``,
``three_nn``, ``three_interpolate`` and its CUDA sigmoid focal loss). This subclass keeps
its sparse convolutions and parameters and rewrites the auxiliary network (SA-SSD
Sec. 3.2) with :mod:`rankdet.models.sassd.point_ops`. Inference (``test_mode=True``)
runs no auxiliary work, as in mmdet3d.
"""
from typing import List, Sequence, Tuple

import torch
from mmdet.models.losses import smooth_l1_loss
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
from mmdet3d.models.layers.spconv import IS_SPCONV2_AVAILABLE
from mmdet3d.models.middle_encoders import SparseEncoder, SparseEncoderSASSD
from mmdet3d.registry import MODELS
from mmdet3d.structures import BaseInstance3DBoxes
from torch import Tensor, nn

from rankdet.ops.points_in_boxes import points_in_boxes
from .point_ops import three_nn_interpolate

__all__ = ['SparseEncoderSASSDTorch']


@MODELS.register_module()
class SparseEncoderSASSDTorch(SparseEncoderSASSD):
    """``SparseEncoderSASSD`` whose auxiliary network is plain PyTorch.

    The auxiliary network reads the first three encoder stages at the voxels' mean
    points (3-NN inverse-distance interpolation within each frame), and predicts from the
    concatenated features whether each point is on an object (focal loss) and the offset
    from the point to its object's centre (smooth L1), SA-SSD Eq. (2)-(3).

    Beside the parent's arguments it needs the voxel grid, so that voxel indices of every
    stage become metres (mmdet3d's encoder hard-codes KITTI's grid there)::

        middle_encoder=dict(type='SparseEncoderSASSDTorch', in_channels=4,
                            sparse_shape=[41, 1600, 1408],
                            point_cloud_range=[0, -40, -3, 70.4, 40, 1],
                            voxel_size=[0.05, 0.05, 0.1])

    Fixes to the parent's auxiliary part, on purpose: a stage's voxel centres use that
    stage's own voxel size (the parent uses twice the input size at the input stage);
    neighbours are searched within each frame only (the parent's ``three_nn`` sees the
    whole batch, batch index included as a coordinate); the centre target is the
    point's offset from the box's gravity centre ``z + dz / 2`` (the parent adds
    ``z / 2``); points on an object are the focal loss's positive class (the parent's
    mmcv focal loss reads label 1 of one class as background); frames without boxes
    and batches without voxels are accepted.

    Args:
        in_channels (int): input voxel feature channels.
        sparse_shape (list[int]): ``[D, H, W]`` of the input grid (z, y, x).
        point_cloud_range (list[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]``.
        voxel_size (list[float]): ``[dx, dy, dz]`` of the input voxels.
        **kwargs: the other arguments of ``SparseEncoderSASSD``.
    """

    def __init__(self, in_channels: int, sparse_shape: List[int],
                 point_cloud_range: Sequence[float], voxel_size: Sequence[float],
                 **kwargs) -> None:
        super().__init__(in_channels=in_channels, sparse_shape=sparse_shape, **kwargs)
        if len(point_cloud_range) != 6 or len(voxel_size) != 3:
            raise ValueError(f'SparseEncoderSASSDTorch: point_cloud_range needs 6 numbers '
                             f'and voxel_size 3, got {point_cloud_range} and {voxel_size}')
        cells = [(point_cloud_range[i + 3] - point_cloud_range[i]) / voxel_size[i]
                 for i in range(3)]
        # mmdet3d's grids have one z cell more than the range holds ([41, ...] on KITTI)
        if (round(cells[0]) != sparse_shape[2] or round(cells[1]) != sparse_shape[1]
                or sparse_shape[0] < round(cells[2])):
            raise ValueError(
                f'SparseEncoderSASSDTorch: sparse_shape {list(sparse_shape)} (z, y, x) does '
                f'not match point_cloud_range {list(point_cloud_range)} / voxel_size '
                f'{list(voxel_size)} = {[round(c) for c in cells[::-1]]} cells (z, y, x)')
        self.register_buffer('grid_origin', torch.tensor(point_cloud_range[:3],
                                                         dtype=torch.float32),
                             persistent=False)
        self.register_buffer('input_voxel_size', torch.tensor(voxel_size, dtype=torch.float32),
                             persistent=False)
        self.return_middle_feats = True  # SparseEncoder.forward also returns the stages
        # the point head reads the first three stages; their widths set its input
        aux_channels = sum(tuple(stage)[-1] for stage in self.encoder_channels[:3])
        if aux_channels != self.point_fc.in_features:
            self.point_fc = nn.Linear(aux_channels, self.point_fc.out_features, bias=False)

    def forward(self, voxel_features: Tensor, coors: Tensor, batch_size: int,
                test_mode: bool = False) -> Tuple[Tensor, tuple]:
        """BEV features, and in training the auxiliary predictions.

        Args:
            voxel_features (Tensor[M, C]): mean point of each voxel (x, y, z, ...).
            coors (Tensor[M, 4]): (frame, z, y, x) voxel indices.
            batch_size (int): frames in the batch (frames may have no voxel).
            test_mode (bool): skip the auxiliary network.

        Returns:
            ``(Tensor[B, C*D, H, W], point_misc)``; ``point_misc`` is None in test mode,
            else ``(points Tensor[M, 4] (frame, x, y, z), point_cls Tensor[M, 1],
            point_reg Tensor[M, 3])``.
        """
        if voxel_features.shape[0] == 0:
            # spconv cannot convolve an empty tensor; an empty scene has an all-zero
            # feature map (no active site anywhere)
            spatial_features = voxel_features.new_zeros(batch_size, *self.bev_shape())
            encode_features = None
        else:
            spatial_features, encode_features = SparseEncoder.forward(
                self, voxel_features, coors, batch_size)
        if test_mode:
            return spatial_features, None

        points_mean = torch.cat([coors[:, :1].to(voxel_features.dtype),
                                 voxel_features[:, :3]], dim=1)            # [M, 4]
        if encode_features is None:
            point_feats = voxel_features.new_zeros(0, self.point_fc.in_features)
        else:
            point_feats = torch.cat(
                [self.make_auxiliary_points(stage, points_mean, *self.stage_geometry(stage))
                 for stage in encode_features[:3]], dim=-1)
        pointwise = self.point_fc(point_feats)
        return spatial_features, (points_mean, self.point_cls(pointwise),
                                  self.point_reg(pointwise))

    def bev_shape(self) -> Tuple[int, int, int]:
        """``(C * D, H, W)`` of the BEV map, from the strided convolutions' arithmetic."""
        if IS_SPCONV2_AVAILABLE:  # as mmdet3d chooses its sparse convolutions
            from spconv.pytorch.conv import SparseConvolution
        else:
            from mmcv.ops.sparse_conv import SparseConvolution

        shape = list(self.sparse_shape)
        for module in self.modules():  # registration order is the forward order
            if isinstance(module, SparseConvolution) and not module.subm:
                shape = [(size + 2 * pad - dil * (kernel - 1) - 1) // stride + 1
                         for size, kernel, stride, pad, dil in zip(
                             shape, module.kernel_size, module.stride, module.padding,
                             module.dilation)]
        return self.output_channels * shape[0], shape[1], shape[2]

    def stage_geometry(self, stage) -> Tuple[Tensor, Tensor]:
        """``(origin, voxel size)`` in metres (x, y, z) of a stage's sparse tensor."""
        stride = [round(full / part) for full, part in
                  zip(self.sparse_shape, stage.spatial_shape)]              # z, y, x
        stride = self.input_voxel_size.new_tensor(stride[::-1])
        return self.grid_origin, self.input_voxel_size * stride

    def make_auxiliary_points(self, source_tensor, target: Tensor, offset,
                              voxel_size) -> Tensor:
        """A stage's features at the target points (3-NN within each frame).

        Args:
            source_tensor (SparseConvTensor): the stage's features and (frame, z, y, x)
                indices.
            target (Tensor[N, 4]): (frame, x, y, z) points.
            offset (Tensor[3] or tuple): metres at the grid's corner (x, y, z).
            voxel_size (Tensor[3] or tuple): the stage's voxel size (x, y, z).

        Returns:
            Tensor[N, C]: interpolated features.
        """
        indices = source_tensor.indices
        offset = torch.as_tensor(offset, dtype=target.dtype, device=target.device)
        voxel_size = torch.as_tensor(voxel_size, dtype=target.dtype, device=target.device)
        centres = (indices[:, [3, 2, 1]].to(target.dtype) + 0.5) * voxel_size + offset
        # the three nearest voxels are mostly within 4 voxels (BEV): the search window
        return three_nn_interpolate(target[:, 1:], target[:, 0].long(), centres,
                                    indices[:, 0].long(), source_tensor.features,
                                    radius=4 * float(voxel_size[:2].max()))

    def calculate_pts_offsets(self, points: Tensor,
                              bboxes_3d: Tensor) -> Tuple[Tensor, Tensor]:
        """Box membership of points and their offsets from the box centre.

        Args:
            points (Tensor[M, 3]): x, y, z.
            bboxes_3d (Tensor[T, 7]): LiDAR boxes, z at the bottom.

        Returns:
            ``(BoolTensor[T, M], Tensor[M, 3])``: whether point m lies in box t; for a
            point in a box (the first, if several), point minus the box's gravity centre,
            else 0.
        """
        # faces inside: the synthetic scans' car returns lie on their boxes' faces, and
        # the measured SA-SSD numbers rest on this rule (rankdet.ops.points_in_boxes)
        inside = points_in_boxes(points, bboxes_3d, inclusive=True)           # [M, T]
        centres = bboxes_3d[:, :3].to(points.dtype).clone()
        centres[:, 2] += bboxes_3d[:, 5].to(points.dtype) / 2
        offsets = points.new_zeros(points.shape)
        in_any = inside.any(dim=1)
        first_box = inside.to(torch.uint8).argmax(dim=1)
        offsets[in_any] = points[in_any] - centres[first_box[in_any]]
        return inside.t(), offsets

    def get_auxiliary_targets(self, points_feats: Tensor,
                              gt_bboxes_3d: List[BaseInstance3DBoxes],
                              enlarge: float = 1.0) -> Tuple[Tensor, Tensor]:
        """Foreground labels and centre offsets of the points of every frame.

        Args:
            points_feats (Tensor[M, 4]): (frame, x, y, z) points.
            gt_bboxes_3d (list[BaseInstance3DBoxes]): boxes of each frame (may be empty).
            enlarge (float): scale applied to the box sizes (1.0, as SA-SSD).

        Returns:
            ``(LongTensor[M], Tensor[M, 3])`` in the order of ``points_feats``.
        """
        labels = points_feats.new_zeros(points_feats.shape[0], dtype=torch.long)
        offsets = points_feats.new_zeros(points_feats.shape[0], 3)
        frames = points_feats[:, 0].long()
        for i, boxes in enumerate(gt_bboxes_3d):
            idx = (frames == i).nonzero(as_tuple=True)[0]
            boxes = boxes.tensor.detach().to(points_feats.device).clone()
            if idx.numel() == 0 or boxes.shape[0] == 0:
                continue
            boxes[:, 3:6] *= enlarge
            inside, offsets[idx] = self.calculate_pts_offsets(
                points_feats[idx, 1:].detach(), boxes)
            labels[idx] = inside.any(dim=0).long()
        return labels, offsets

    def aux_loss(self, points: Tensor, point_cls: Tensor, point_reg: Tensor,
                 gt_bboxes_3d: List[BaseInstance3DBoxes]) -> dict:
        """Auxiliary segmentation (focal) and centre-offset (smooth L1) losses.

        As SA-SSD: both are sums over points divided by the number of foreground points
        (at least 1) and by the number of frames; the offset loss counts foreground
        points only.

        Returns:
            dict: ``aux_loss_cls``, ``aux_loss_reg`` (scalars).
        """
        num_frames = max(len(gt_bboxes_3d), 1)
        labels, center_targets = self.get_auxiliary_targets(points, gt_bboxes_3d)
        foreground = (labels > 0).to(point_cls.dtype)
        num_foreground = foreground.sum().clamp(min=1.0)
        aux_loss_cls = py_sigmoid_focal_loss(
            point_cls, foreground[:, None], gamma=2.0, alpha=0.25, reduction='mean',
            avg_factor=num_foreground) / num_frames
        aux_loss_reg = smooth_l1_loss(
            point_reg, center_targets, weight=foreground[:, None], beta=1 / 9.,
            reduction='sum') / num_foreground / num_frames
        return dict(aux_loss_cls=aux_loss_cls, aux_loss_reg=aux_loss_reg)
