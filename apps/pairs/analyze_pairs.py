"""Run a trained dense detector over a data set and measure how it ranks its anchors:
the reverse-pair ratios of RankDetNet's Table 3 and the distributions of Figure 3.

Each anchor is labelled by the head's own assigner against the ground truth (as during
training), scored by the trained classification branch, and each positive gets the IoU
of its decoded box with its ground truth. Works for the focal baselines and the ranking
heads alike, so the two can be compared as in the paper.
"""
import math
from typing import Optional

import torch
from mmengine.config import Config
from tqdm import tqdm

from rankdet.analysis.pair_statistics import PairStatistics
from rankdet.analysis.ratios_file import write_ratios_file
from rankdet.analysis.score_figures import draw_figure3

from .analysis_loader import analysis_loader, panel_class

IMAGE_LOADERS = ('LoadImageFromFile', 'mmdet.LoadImageFromFile')


def annotated_pipeline(pipeline: list) -> list:
    """The test pipeline with ground truth loaded right after the image.

    mmdet's test pipelines load annotations after ``Resize`` so that evaluation sees
    boxes in original coordinates; assigning anchors needs them resized with the image.
    """
    steps = [dict(step) for step in pipeline]
    annotations = [s for s in steps if s['type'].endswith('LoadAnnotations')]
    if not annotations:
        raise ValueError('the pair analysis needs ground truth, but the test pipeline has '
                         'no LoadAnnotations step: add dict(type=\'LoadAnnotations\', '
                         'with_bbox=True)')
    steps = [s for s in steps if not s['type'].endswith('LoadAnnotations')]
    first = next((i for i, s in enumerate(steps) if s['type'] in IMAGE_LOADERS), 0)
    return steps[:first + 1] + annotations[:1] + steps[first + 1:]


def analyze_pairs(cfg: Config, checkpoint: str, out_dir, class_name: Optional[str] = None,
                  max_images: Optional[int] = None, progress: bool = True) -> dict:
    """Table 3 ratios and Figure 3 panels of ``checkpoint`` on the config's test set.

    Args:
        cfg (Config): the model's config (``model``, ``test_dataloader``).
        checkpoint (str): weights to load.
        out_dir (str or Path): where the PNG files and ``pair_ratios.json`` go.
        class_name (str, optional): the class of Figure 3's class panels; default
            'person' if the data set has it, else its first class.
        max_images (int, optional): analyse only the first images of the test set.
        progress (bool): show a progress bar.

    Returns:
        dict: ``ratios`` ({'F-B', 'P-N', 'P-P'}; NaN for a type without pairs),
        ``spearman`` (confidence vs IoU of all positives, NaN with fewer than two),
        ``num_positives``, ``num_images``, ``class_name``, ``checkpoint``, ``figures``
        (name -> PNG path) and ``ratios_file`` (``pair_ratios.json``: the same numbers,
        NaN written as null).
    """
    from mmdet.models.utils import unpack_gt_instances

    from rankdet.models.dense_heads.ranking_targets import level_targets, ranking_samples
    from apps.runner.trained_model import build_trained_model

    model = build_trained_model(cfg, checkpoint, 'mmdet')
    model.eval()
    head = model.bbox_head
    if head.train_cfg is None:
        raise ValueError('the pair analysis labels anchors with the head\'s assigner: the '
                         'config needs model.train_cfg')

    loader = analysis_loader(cfg, annotated_pipeline, max_images)
    classes = list(loader.dataset.metainfo['classes'])
    class_name = panel_class(classes, class_name, 'person')

    stats = PairStatistics(head.num_classes, classes.index(class_name))
    with torch.no_grad():
        for data in tqdm(loader, desc='pair analysis', disable=not progress):
            data = model.data_preprocessor(data, False)
            outs = head(model.extract_feat(data['inputs']))
            gts, gts_ignore, metas = unpack_gt_instances(data['data_samples'])
            targets = level_targets(head, outs[0], gts, metas, gts_ignore)
            samples = ranking_samples(head, outs[0], outs[1], targets)
            stats.update(samples.logits, samples.labels_with_ignored(), samples.ious)

    return pair_report(stats, class_name, checkpoint, out_dir)


def pair_report(stats: PairStatistics, class_name: str, checkpoint, out_dir) -> dict:
    """Figure 3's PNGs and ``pair_ratios.json`` of a finished analysis, and its result
    (the keys of :func:`analyze_pairs`)."""
    figures = draw_figure3(stats, class_name, out_dir)
    result = dict(ratios=stats.ratios(), spearman=stats.spearman(),
                  num_positives=stats.num_positives, num_images=stats.num_images,
                  class_name=class_name, checkpoint=str(checkpoint))
    return dict(result, figures=figures, ratios_file=write_ratios_file(result, out_dir))


PAPER_TABLE3 = {  # RankDetNet Table 3, RetinaNet R50 on COCO
    'paper, focal RetinaNet R50': {'F-B': 0.33, 'P-N': 0.28, 'P-P': 0.44},
    'paper, ranking RetinaNet R50': {'F-B': 0.26, 'P-N': 0.22, 'P-P': 0.41},
}


def format_ratios(ratios: dict) -> str:
    """Table 3 as text, this model beside the paper's RetinaNet R50 figures; a type
    without pairs (NaN, or None as read back from ``pair_ratios.json``) shows ``nan``."""
    rows = {'this model': ratios, **PAPER_TABLE3}
    lines = [f"{'reverse-pair ratios (lower is better)':<38}{'F-B':>8}{'P-N':>8}{'P-P':>8}"]
    for name, row in rows.items():
        values = [math.nan if row[k] is None else row[k] for k in ('F-B', 'P-N', 'P-P')]
        lines.append(f'  {name:<36}' + ''.join(f'{value:8.3f}' for value in values))
    return '\n'.join(lines)
