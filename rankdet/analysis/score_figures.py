"""Figure 3 of RankDetNet as PNG files: foreground vs background confidence, positive vs
negative confidence of one class, and IoU vs confidence of that class's positives (with
their Spearman correlation).

Drawn with matplotlib's Agg canvas (no display, no global backend switch), written to a
temporary file and renamed into place.
"""
import io
import math
from pathlib import Path
from typing import Dict, List

import numpy as np

from rankdet.atomic_write import atomic_write_bytes

from .pair_statistics import PairStatistics
from .rank_correlation import spearman_correlation


def save_figure(figure, path: Path, dpi: int = 100) -> Path:
    """A matplotlib ``Figure`` as a PNG at ``path``, rendered by the Agg canvas (no
    display, no global backend switch) and written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _density_plot(stats: PairStatistics, first: str, second: str, labels: List[str],
                  min_second: float, title: str, path: Path) -> Path:
    from matplotlib.figure import Figure

    edges = np.linspace(0, 1, stats.bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    figure = Figure(figsize=(5, 3.5))
    axes = figure.add_subplot()
    for name, label, keep in ((first, labels[0], centres >= 0),
                              (second, labels[1], centres > min_second)):
        counts = stats.histograms[name].numpy() * keep
        total = counts.sum()
        density = counts / (total * width) if total > 0 else counts
        axes.bar(centres, density, width=width, alpha=0.5, label=f'{label} ({int(total)})')
    axes.set_xlabel('confidence')
    axes.set_ylabel('density')
    axes.set_xlim(0, 1)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)


def draw_figure3(stats: PairStatistics, class_name: str, out_dir,
                 min_background_score: float = 0.2) -> Dict[str, Path]:
    """Write the three panels of Figure 3 to ``out_dir``; returns their paths.

    Background and negative samples are drawn above ``min_background_score`` only, as
    in the paper (0.2), else they would flatten every other bar.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    slug = class_name.replace(' ', '-')
    paths = {
        'fg_bg': _density_plot(
            stats, 'foreground', 'background', ['foreground', 'background'],
            min_background_score,
            f'foreground vs background (background > {min_background_score})',
            out_dir / 'fg_bg_scores.png'),
        'pos_neg': _density_plot(
            stats, 'positive', 'negative', ['positive', 'negative'], min_background_score,
            f"'{class_name}': positive vs negative (negative > {min_background_score})",
            out_dir / f'pos_neg_scores_{slug}.png'),
    }

    from matplotlib.figure import Figure

    points = stats.class_points()
    figure = Figure(figsize=(4.5, 4))
    axes = figure.add_subplot()
    axes.scatter(points['iou'].numpy(), points['score'].numpy(), s=4, alpha=0.5)
    title = f"'{class_name}' positives ({points['iou'].numel()})"
    rho = spearman_correlation(points['iou'], points['score'])
    if not math.isnan(rho):  # NaN: fewer than two points, or all of one score or IoU
        title += f', Spearman ρ = {rho:.2f}'
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel('IoU with ground truth')
    axes.set_ylabel('confidence')
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    paths['iou_score'] = save_figure(figure, out_dir / f'iou_vs_score_{slug}.png')
    return paths
