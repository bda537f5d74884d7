"""The pair analysis of :mod:`apps.pairs.analyze_pairs` for SA-SSD on KITTI.

Each anchor of each frame of the config's test set is labelled by the head's own
``anchor_target_3d`` (the Max3DIoUAssigner, as in training), scored by the PSWarp-warped
confidence map, and each positive gets the rotated 3D IoU of its decoded box with its
ground truth: the samples the ranking head's loss sees
(:meth:`rankdet.models.sassd.PSWarpHead.anchor_samples`). Works for ``PSWarpHead``
(focal) and ``RankPSWarpHead`` (ranking) alike.

With one class (KITTI car) the negatives of the class are the background anchors, so
P-N counts the pairs of F-B; P-P pools the positives of a frame (one feature level).
"""
from typing import Optional

import torch
from mmengine.config import Config
from tqdm import tqdm

from rankdet.analysis.pair_statistics import PairStatistics

from .analysis_loader import analysis_loader, panel_class
from .analyze_pairs import pair_report

GROUND_TRUTH_KEYS = ('gt_bboxes_3d', 'gt_labels_3d')


def _find(steps: list, name: str) -> Optional[int]:
    """Index of the first step whose type is ``name`` (with or without a scope)."""
    return next((i for i, s in enumerate(steps) if s['type'].split('.')[-1] == name), None)


def annotated_pipeline_3d(pipeline: list) -> list:
    """The test pipeline with ground truth handled as the training pipeline does.

    3D boxes and labels are loaded right after the points, boxes outside the point
    range are dropped beside ``PointsRangeFilter`` (``ObjectRangeFilter``, as in
    training: anchors cover that range only), and both are packed with the points.
    """
    steps = [dict(step) for step in pipeline]
    if _find(steps, 'MultiScaleFlipAug3D') is not None:
        raise ValueError('the 3D pair analysis labels the anchors of one view of each '
                         'frame: use a test pipeline without MultiScaleFlipAug3D')
    loader = _find(steps, 'LoadPointsFromFile')
    if loader is None:
        raise ValueError(f'the 3D pair analysis needs a test pipeline that loads points '
                         f"(LoadPointsFromFile), got {[s['type'] for s in steps]}")
    annotations = _find(steps, 'LoadAnnotations3D')
    if annotations is None:
        steps.insert(loader + 1, dict(type='LoadAnnotations3D'))
        annotations = loader + 1
    steps[annotations].update(with_bbox_3d=True, with_label_3d=True)
    points_range = _find(steps, 'PointsRangeFilter')
    if points_range is not None and _find(steps, 'ObjectRangeFilter') is None:
        steps.insert(points_range + 1, dict(
            type='ObjectRangeFilter',
            point_cloud_range=steps[points_range]['point_cloud_range']))
    pack = _find(steps, 'Pack3DDetInputs')
    if pack is None:
        raise ValueError(f'the 3D pair analysis needs a test pipeline that ends with '
                         f"Pack3DDetInputs, got {[s['type'] for s in steps]}")
    keys = list(steps[pack].get('keys', []))
    steps[pack]['keys'] = keys + [k for k in GROUND_TRUTH_KEYS if k not in keys]
    return steps


def analyze_pairs_3d(cfg: Config, checkpoint: str, out_dir, max_frames: Optional[int] = None,
                     progress: bool = True, class_name: Optional[str] = None) -> dict:
    """Table 3 ratios, Spearman correlation and Figure 3 panels of an SA-SSD checkpoint.

    Args:
        cfg (Config): the model's config (``model`` with a ``PSWarpHead`` or
            ``RankPSWarpHead`` and its ``train_cfg``, ``test_dataloader``).
        checkpoint (str): weights to load.
        out_dir (str or Path): where the PNG files and ``pair_ratios.json`` go.
        max_frames (int, optional): analyse only the first frames of the test set.
        progress (bool): show a progress bar.
        class_name (str, optional): the class of Figure 3's class panels; default 'Car'
            if the data set has it, else its first class.

    Returns:
        dict: the keys of :func:`apps.pairs.analyze_pairs.analyze_pairs`:
        ``ratios`` ({'F-B', 'P-N', 'P-P'}; NaN for a type without pairs), ``spearman``,
        ``num_positives``, ``num_images`` (frames), ``class_name``, ``checkpoint``,
        ``figures`` (name -> PNG path) and ``ratios_file``.
    """
    from rankdet.models.sassd import PSWarpHead
    from apps.runner.trained_model import build_trained_model

    if max_frames is not None and max_frames < 1:
        raise ValueError(f'max_frames must be at least 1, got {max_frames}')

    def check(model):
        head = getattr(model, 'bbox_head', None)
        if not isinstance(head, PSWarpHead):
            head_type = cfg.model.get('bbox_head', {}).get('type')
            raise TypeError(f'the 3D pair analysis reads the anchors of SA-SSD\'s PSWarpHead '
                            f'or RankPSWarpHead, but model.bbox_head is '
                            f'{type(head).__name__} (type={head_type!r}); 2D detectors: '
                            f'apps.pairs.analyze_pairs')
        if head.train_cfg is None:
            raise ValueError('the 3D pair analysis labels anchors with the head\'s '
                             'assigner: the config needs model.train_cfg')

    model = build_trained_model(cfg, checkpoint, 'mmdet3d', check)
    head = model.bbox_head
    model.eval()

    # mmdet3d parses a frame's annotations for the pipeline outside test mode only; keep
    # the frames without objects, they still rank their background anchors
    loader = analysis_loader(cfg, annotated_pipeline_3d, max_frames, test_mode=False,
                             filter_empty_gt=False)
    classes = list(loader.dataset.metainfo['classes'])
    class_name = panel_class(classes, class_name, 'Car')

    stats = PairStatistics(head.num_classes, classes.index(class_name))
    with torch.no_grad():
        for data in tqdm(loader, desc='3D pair analysis', disable=not progress):
            data = model.data_preprocessor(data, False)
            cls_scores, bbox_preds, _ = head(model.extract_feat(data['inputs']))
            data_samples = data['data_samples']
            samples = head.anchor_samples(
                cls_scores, bbox_preds, [s.gt_instances_3d for s in data_samples],
                [s.metainfo for s in data_samples],
                [s.get('ignored_instances', None) for s in data_samples])
            ious = samples.scores.new_zeros(samples.labels.shape).index_put(
                (samples.pos_image, samples.pos_anchor),
                head.positive_ious(samples).to(samples.scores.dtype))    # [B, A]
            stats.update(samples.scores, samples.labels_with_ignored(), ious)
    return pair_report(stats, class_name, checkpoint, out_dir)
