"""2D detections drawn on an image: ground truth and predictions in two colours, with
scores (matplotlib, no display needed).

Boxes are ``[x1, y1, x2, y2]`` in the image's own pixels (mmdet's ``pred_instances``
after rescaling, COCO's ``bbox`` converted from ``[x, y, w, h]``). Small images are shown
enlarged (nearest neighbour, so that pixels stay sharp) so that the labels can be read.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np

from rankdet.atomic_write import atomic_write_bytes

from .scene_items import GT_COLOUR, PRED_COLOUR


def _boxes(value, name: str) -> np.ndarray:
    boxes = np.asarray(value, dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'{name} must have shape [N, 4] (x1, y1, x2, y2), got {boxes.shape}')
    return boxes


def render_detections_2d(path, image: np.ndarray, gt_boxes=(), gt_labels=None,
                         pred_boxes=(), pred_scores=None, pred_labels=None,
                         class_names: Sequence[str] | None = None, min_side_px: int = 320,
                         title: str | None = None) -> Path:
    """Write a PNG of ``image`` with ground-truth and predicted boxes to ``path``.

    Args:
        path: output PNG (written to a temporary file, then renamed).
        image: ``uint8[H, W, 3]`` RGB.
        gt_boxes: ``float[G, 4]`` ground truth, drawn in green with its class name.
        gt_labels: ``int[G]`` class indices into ``class_names``, or None.
        pred_boxes: ``float[P, 4]`` predictions, drawn in red-orange (dashed) with
            class name and score.
        pred_scores: ``float[P]``, required with predictions.
        pred_labels: ``int[P]`` or None.
        class_names: names for the labels, or None (indices are printed).
        min_side_px: the picture's shorter side at least this many pixels (integer
            enlargement).
        title: a line above the image, or None.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'image must be uint8[H, W, 3], got {image.dtype}{list(image.shape)}')
    gt_boxes, pred_boxes = _boxes(gt_boxes, 'gt_boxes'), _boxes(pred_boxes, 'pred_boxes')
    if len(pred_boxes) and (pred_scores is None or len(pred_scores) != len(pred_boxes)):
        raise ValueError(f'pred_scores must give one score per predicted box '
                         f'({len(pred_boxes)}), got {pred_scores!r}')
    for labels, boxes, name in ((gt_labels, gt_boxes, 'gt_labels'),
                                (pred_labels, pred_boxes, 'pred_labels')):
        if labels is not None and len(labels) != len(boxes):
            raise ValueError(f'{name}: {len(labels)} labels for {len(boxes)} boxes')

    def name_of(labels, k):
        if labels is None:
            return ''
        label = int(labels[k])
        return class_names[label] if class_names is not None else str(label)

    height, width = image.shape[:2]
    zoom = max(1, int(np.ceil(min_side_px / min(height, width))))
    shown = np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)
    dpi = 100
    top = 0.35 if title else 0.0  # inches for the title line
    fig = Figure(figsize=(width * zoom / dpi, height * zoom / dpi + top), dpi=dpi,
                 facecolor='white')
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, height * zoom / dpi / (height * zoom / dpi + top)])
    ax.imshow(shown, extent=(0, width, height, 0), interpolation='nearest')
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis('off')
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.05 * top)

    for k, (x1, y1, x2, y2) in enumerate(gt_boxes):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=GT_COLOUR,
                               linewidth=2.0))
        ax.text(x1, y2, name_of(gt_labels, k), color='black', fontsize=7, va='top',
                ha='left', clip_on=True,
                bbox=dict(facecolor=GT_COLOUR, edgecolor='none', pad=1, alpha=0.8))
    for k, (x1, y1, x2, y2) in enumerate(pred_boxes):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                               edgecolor=PRED_COLOUR, linewidth=1.5, linestyle='--'))
        text = f'{name_of(pred_labels, k)} {float(pred_scores[k]):.2f}'.strip()
        ax.text(x1, y1, text, color='white', fontsize=7, va='bottom', ha='left',
                clip_on=True,
                bbox=dict(facecolor=PRED_COLOUR, edgecolor='none', pad=1, alpha=0.8))
    handles = [ax.plot([], [], color=GT_COLOUR, linewidth=2, label='ground truth')[0],
               ax.plot([], [], color=PRED_COLOUR, linewidth=1.5, linestyle='--',
                       label='prediction (score)')[0]]
    ax.legend(handles=handles, loc='lower right', fontsize=6, framealpha=0.7)

    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=dpi, facecolor='white')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
