"""The report of ``tools/compare.py``: per pair of detectors, each run's metrics over
seeds (mean and sample standard deviation), the paired ranking-minus-focal differences,
gradient norms at the warm start, loss curves' ends, and Figure 3 side by side.

Written to ``<work_dir>/<profile>.json`` and ``<profile>.md`` (temporary file, then
renamed) and ``<work_dir>/<pair>_figure3.png``.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from rankdet.atomic_write import atomic_write_text

from .experiments import Pair, Plan
from .job import write_json

PAIR_COLUMNS = (('F-B', 'F-B ↓'), ('P-N', 'P-N ↓'), ('P-P', 'P-P ↓'),
                ('spearman', 'Spearman ↑'))
METRIC_COLUMNS = {
    '2d': (('AP', 'AP'), ('AP50', 'AP50'), ('AP75', 'AP75')),
    '3d': tuple((f'{k}_AP40_{lv}', f'{k} {lv[:3]}.') for k in ('3D', 'BEV')
                for lv in ('easy', 'moderate', 'hard')),
}
RUN_LABELS = {'warm': 'warm start (focal)', 'focal': 'focal', 'rank': 'ranking'}


def summarise(values: Sequence[Optional[float]]) -> dict:
    """Mean, sample standard deviation (0 for one value) and the values; NaN/None
    values are left out of mean and deviation."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    mean = statistics.fmean(finite) if finite else float('nan')
    sd = statistics.stdev(finite) if len(finite) > 1 else (0.0 if finite else float('nan'))
    return dict(mean=mean, sd=sd, n=len(finite), values=list(values))


def run_values(result: dict, kind: str) -> Dict[str, Optional[float]]:
    """The report's numbers of one run (``None`` where the run did not measure one)."""
    values = dict(result.get('metrics', {}))
    pairs = result.get('pairs')
    for key, _ in PAIR_COLUMNS:
        if pairs is None:
            values[key] = None
        elif key == 'spearman':
            values[key] = pairs.get('spearman')
        else:
            values[key] = pairs['ratios'].get(key)
    values['s/iter'] = result['training']['seconds_per_iter']
    return values


def machine() -> dict:
    """Where the numbers were measured."""
    import torch

    from rankdet.cpu_name import cpu_name

    return dict(cpu=cpu_name(), cores=os.cpu_count(), python=platform.python_version(),
                torch=torch.__version__, system=platform.platform(),
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def _cell(summary: dict, digits: int, signed: bool = False) -> str:
    if summary['n'] == 0:
        return '–'
    sign = '+' if signed else ''
    text = f"{summary['mean']:{sign}.{digits}f}"
    if len(summary['values']) > 1:
        text += f" ± {summary['sd']:.{digits}f}"
    return text


def _digits(key: str, kind: str) -> int:
    if key == 's/iter':
        return 3
    if kind == '3d' and 'AP40' in key:
        return 2
    return 3


def summarise_pair(pair: Pair, runs: Sequence[str], results: Dict[str, dict]) -> dict:
    """Per run: each number over seeds; per run other than focal and the warm start:
    its paired difference from focal, seed by seed."""
    per_run = {}
    for run in runs:
        seeds = [s for s in pair.seeds if f'{pair.name}/seed{s}/{run}' in results]
        values = [run_values(results[f'{pair.name}/seed{s}/{run}'], pair.kind)
                  for s in seeds]
        keys = list(values[0]) if values else []
        per_run[run] = dict(seeds=seeds, numbers={
            key: summarise([v.get(key) for v in values]) for key in keys})
        gradients = [results[f'{pair.name}/seed{s}/{run}'].get('gradient_norms_at_start')
                     for s in seeds]
        gradients = [g for g in gradients if g]
        if gradients:
            per_run[run]['gradient_norms_at_start'] = {
                term: summarise([g.get(term) for g in gradients]) for term in gradients[0]}
        losses = [results[f'{pair.name}/seed{s}/{run}']['training']['losses'] for s in seeds]
        if losses:
            per_run[run]['losses'] = {
                term: dict(first=summarise([run_losses[term]['first'] for run_losses in losses]),
                           last=summarise([run_losses[term]['last'] for run_losses in losses]))
                for term in losses[0]}
    differences = {}
    for run in runs:
        if run in ('warm', 'focal'):
            continue
        diffs = {}
        for key in per_run[run]['numbers']:
            if key == 's/iter':
                ratios = [r / f for r, f in _paired(per_run, run, key)
                          if r is not None and f]
                diffs['s/iter ratio'] = summarise(ratios)
                continue
            diffs[key] = summarise([r - f for r, f in _paired(per_run, run, key)
                                    if r is not None and f is not None])
            better = [(r - f) * (-1 if key in ('F-B', 'P-N', 'P-P') else 1)
                      for r, f in _paired(per_run, run, key)
                      if r is not None and f is not None]
            diffs[key]['seeds_better'] = sum(d > 0 for d in better)
        differences[run] = diffs
    return dict(runs=per_run, differences_from_focal=differences)


def _paired(per_run: dict, run: str, key: str):
    focal = dict(zip(per_run['focal']['seeds'], per_run['focal']['numbers'][key]['values']))
    mine = dict(zip(per_run[run]['seeds'], per_run[run]['numbers'][key]['values']))
    return [(mine[s], focal[s]) for s in mine if s in focal]


def side_by_side(pair: Pair, runs: Sequence[str], results: Dict[str, dict],
                 out: Path) -> Optional[Path]:
    """Figure 3 of the first seed's runs in columns (focal, ranking, ...), one row per
    panel; ``None`` when no run has figures."""
    import matplotlib.image as mpimg
    from matplotlib.figure import Figure

    from rankdet.analysis.score_figures import save_figure

    seed = pair.seeds[0]
    columns = [(run, results.get(f'{pair.name}/seed{seed}/{run}', {}).get('pairs'))
               for run in runs]
    columns = [(run, p['figures']) for run, p in columns if p and p.get('figures')]
    if not columns:
        return None
    panels = list(columns[0][1])
    figure = Figure(figsize=(4.2 * len(columns), 3.4 * len(panels)))
    for row, panel in enumerate(panels):
        for col, (run, figures) in enumerate(columns):
            axes = figure.add_subplot(len(panels), len(columns), row * len(columns) + col + 1)
            axes.imshow(mpimg.imread(figures[panel]))
            axes.set_axis_off()
            if row == 0:
                axes.set_title(f'{RUN_LABELS.get(run, run)} (seed {seed})', fontsize=12)
    figure.suptitle(f'{pair.name}: Figure 3, focal vs ranking, {pair.warm_length} + '
                    f'{pair.iters} iterations', fontsize=13)
    figure.tight_layout()
    return save_figure(figure, out, dpi=90)


def pair_markdown(pair: Pair, summary: dict, figure: Optional[Path], work_dir: Path
                  ) -> List[str]:
    """The Markdown section of one pair."""
    metric_columns = METRIC_COLUMNS[pair.kind]
    columns = list(metric_columns) + list(PAIR_COLUMNS) + [('s/iter', 's/iter')]
    seeds = ', '.join(str(s) for s in pair.seeds)
    lines = [f'### {pair.name}', '', f'{pair.description}. Focal loss for {pair.warm_length} '
             f'iterations from random weights (warm start), then {pair.iters} more '
             f'iterations of each loss from that checkpoint with a fresh schedule; seeds '
             f'{seeds}; mean ± sample standard deviation over seeds.', '',
             '| run | ' + ' | '.join(title for _, title in columns) + ' |',
             '|---|' + '---:|' * len(columns)]
    for run, numbers in summary['runs'].items():
        label = RUN_LABELS.get(run, run)
        cells = [_cell(numbers['numbers'].get(key, summarise([])), _digits(key, pair.kind))
                 for key, _ in columns]
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    for run, diffs in summary['differences_from_focal'].items():
        cells = []
        for key, _ in columns:
            if key == 's/iter':
                d = diffs.get('s/iter ratio', summarise([]))
                cells.append(_cell(d, 2) + ' ×' if d['n'] else '–')
                continue
            d = diffs.get(key, summarise([]))
            text = _cell(d, _digits(key, pair.kind), signed=True)
            if d['n'] > 1:
                text += f" ({d['seeds_better']}/{d['n']})"
            cells.append(text)
        lines.append(f'| {RUN_LABELS.get(run, run)} − focal | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Reverse-pair ratios (Table 3) and Spearman ρ (confidence vs IoU of '
              'positives) are measured on the validation images with the head\'s own '
              'anchor assignment; the difference rows are paired by seed, with the '
              'number of seeds where ranking is better in brackets; s/iter compares '
              'training time per iteration (runs go two at a time on the two cores).']
    gradient_runs = {run: r['gradient_norms_at_start'] for run, r in summary['runs'].items()
                     if 'gradient_norms_at_start' in r}
    if gradient_runs:
        lines += ['', 'Gradient norm of each loss term (all parameters) at the warm-start '
                  'checkpoint, mean over seeds and batches:', '']
        for run, norms in gradient_runs.items():
            terms = ', '.join(f'{term} {value["mean"]:.3g}' for term, value in norms.items())
            lines.append(f'- {RUN_LABELS.get(run, run)}: {terms}')
    loss_runs = {run: r['losses'] for run, r in summary['runs'].items() if 'losses' in r}
    if loss_runs:
        lines += ['', 'Training losses, mean of the first and last tenth of each run:', '']
        for run, losses in loss_runs.items():
            terms = ', '.join(f'{term} {v["first"]["mean"]:.3f} → {v["last"]["mean"]:.3f}'
                              for term, v in losses.items() if term != 'loss')
            lines.append(f'- {RUN_LABELS.get(run, run)}: {terms}')
    if figure is not None:
        lines += ['', f'![{pair.name} Figure 3]({os.path.relpath(figure, work_dir)})']
    return lines + ['']


def write_report(plan: Plan, pairs: Sequence[Pair], results: Dict[str, dict], work_dir,
                 command: str = '', seconds: Optional[dict] = None) -> dict:
    """Summarise ``results`` (job name -> result) into ``<profile>.json`` and ``.md``."""
    work_dir = Path(work_dir)
    runs = ['warm', 'focal'] + ([v.name for v in plan.variants] if plan.variants
                                else ['rank'])
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    report = dict(profile=plan.profile, date=now, machine=machine(), command=command,
                  seconds=seconds or {}, pairs={})
    info = report['machine']
    lines = [f'# rankdet: ranking vs focal ({plan.profile})', '',
             f'Measured {now} on {info["cpu"]} ({info["cores"]} cores'
             f'{", GPU " + info["gpu"] if info["gpu"] else ", no GPU"}), torch '
             f'{info["torch"]}, with `{command}`'
             + (f' in {seconds["total"] / 60:.0f} min' if seconds and 'total' in seconds
                else '') + '.', '']
    if plan.variants:
        lines += ['Ablation rows (ranking loss variants, all from the same warm start):', '']
        lines += [f'- {v.name}: {v.label}' for v in plan.variants] + ['']
    for pair in pairs:
        summary = summarise_pair(pair, runs, results)
        figure = side_by_side(pair, runs, results, work_dir / f'{pair.name}_figure3.png')
        report['pairs'][pair.name] = dict(
            description=pair.description, kind=pair.kind, iters=pair.iters,
            warm_iters=pair.warm_length,
            seeds=list(pair.seeds), figure=str(figure) if figure else None, **summary)
        lines += pair_markdown(pair, summary, figure, work_dir)
    write_json(work_dir / f'{plan.profile}.json', report)
    markdown = work_dir / f'{plan.profile}.md'
    atomic_write_text(markdown, '\n'.join(lines))
    report['markdown'] = str(markdown)
    return report
