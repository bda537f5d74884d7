"""The report of ``tools/compare.py``: per data set, the warm start (its val AP and
where it plateaued), each variant's metrics over seeds (mean and sample standard
deviation) and its paired differences from focal with the seeds it won, on test (the
headline, the paper's test settings), test at ``score_thr=0`` and val; the best 2D
extension's choice; gradient norms at the warm start, loss curves' ends, Figure 3 side
by side and the training-health curves (focal vs paper vs the best extension) in one PNG.

Written to ``<work_dir>/<profile>.json`` and ``<profile>.md`` (temporary file, then
renamed), ``<work_dir>/<pair>_figure3.png`` and ``<work_dir>/<profile>_health.png``.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from rankdet.atomic_write import atomic_write_text

from .experiments import BEST, EXTENSIONS, MONITOR, Pair, Plan
from .job import health_curves, write_json

PAIR_COLUMNS = (('F-B', 'F-B ↓'), ('P-N', 'P-N ↓'), ('P-P', 'P-P ↓'),
                ('spearman', 'Spearman ↑'))
METRIC_COLUMNS = {
    '2d': (('AP', 'AP'), ('AP50', 'AP50'), ('AP75', 'AP75')),
    '3d': tuple((f'{k}_AP40_{lv}', f'{k} {lv[:3]}.') for k in ('3D', 'BEV')
                for lv in ('easy', 'moderate', 'hard')),
}
#: the metric sets of a run: (key in result['metrics'], title)
VIEWS = (('test', 'test split, the paper\'s test settings (headline)'),
         ('test_thr0', 'test split, score_thr=0 (same checkpoints)'),
         ('val', 'val split (where the best extension is chosen)'))
HEALTH_KEYS = (('rank/pos_score_mean', 'mean score of positives (their class)'),
               ('rank/bg_above_0.2', 'share of background anchors above 0.2'))


def summarise(values: Sequence[Optional[float]]) -> dict:
    """Mean, sample standard deviation (0 for one value) and the values; NaN/None
    values are left out of mean and deviation."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    mean = statistics.fmean(finite) if finite else float('nan')
    sd = statistics.stdev(finite) if len(finite) > 1 else (0.0 if finite else float('nan'))
    return dict(mean=mean, sd=sd, n=len(finite), values=list(values))


def run_values(result: dict, kind: str, view: str = 'test') -> Dict[str, Optional[float]]:
    """The report's numbers of one run in one view (``None`` where the run did not
    measure one); the pair analysis and s/iter belong to the test view."""
    values = dict(result.get('metrics', {}).get(view, {}))
    if view != 'test':
        return values
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

    from apps.runner.cpu_name import cpu_name

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


def summarise_pair(pair: Pair, results: Dict[str, dict], view: str = 'test') -> dict:
    """Per variant: each number of ``view`` over seeds; per variant other than focal:
    its paired difference from focal, seed by seed, with the seeds where it is better."""
    per_run = {}
    for run in pair.variants:
        seeds = [s for s in pair.seeds if f'{pair.name}/seed{s}/{run}' in results]
        values = [run_values(results[f'{pair.name}/seed{s}/{run}'], pair.kind, view)
                  for s in seeds]
        keys = list(values[0]) if values else []
        per_run[run] = dict(seeds=seeds, numbers={
            key: summarise([v.get(key) for v in values]) for key in keys})
        chosen = {results[f'{pair.name}/seed{s}/{run}']['spec'].get('variant') for s in seeds}
        if run == BEST and chosen:
            per_run[run]['variant'] = ', '.join(sorted(c for c in chosen if c))
        if view != 'test':
            continue
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
    for run in pair.variants:
        if run == 'focal' or 'focal' not in per_run:
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
    if key not in per_run['focal']['numbers']:
        return []
    focal = dict(zip(per_run['focal']['seeds'], per_run['focal']['numbers'][key]['values']))
    mine = dict(zip(per_run[run]['seeds'], per_run[run]['numbers'][key]['values']))
    return [(mine[s], focal[s]) for s in mine if s in focal]


def warm_summary(pair: Pair, results: Dict[str, dict], phase: str = 'warm'
                 ) -> Optional[dict]:
    """The warm start's record (``phase='warm-anneal'``: its decay phase's): val AP
    history, best iteration, why it stopped, its test numbers and the last logged mean
    positive score (if the health hook ran)."""
    result = results.get(f'{pair.name}/{phase}')
    if result is None:
        return None
    health = result.get('health') or {}
    pos = health.get('rank/pos_score_mean')
    return dict(result['warm'], metrics=result.get('metrics', {}),
                pos_score_mean_last=pos[-1][1] if pos else None,
                seconds=result.get('seconds', {}), seconds_per_iter=result['training'][
                    'seconds_per_iter'])


def best_choice_of(pair: Pair, results: Dict[str, dict]) -> Optional[dict]:
    """The choice recorded by the pair's best-extension runs (the same in every seed)."""
    for seed in pair.seeds:
        result = results.get(f'{pair.name}/seed{seed}/{BEST}')
        if result and result['spec'].get('choice'):
            return result['spec']['choice']
    return None


def side_by_side(pair: Pair, runs: Sequence[str], results: Dict[str, dict],
                 out: Path) -> Optional[Path]:
    """Figure 3 of the first seed's runs in columns, one row per panel; ``None`` when no
    run has figures."""
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
                axes.set_title(f'{_label(pair, run, results)} (seed {seed})', fontsize=12)
    figure.suptitle(f'{pair.name}: Figure 3 on the test split, continuations of '
                    f'{pair.iters} iterations from the warm start'
                    + ("'s decay phase" if pair.warm.anneal_iters else ''), fontsize=13)
    figure.tight_layout()
    return save_figure(figure, out, dpi=90)


def _label(pair: Pair, run: str, results: Dict[str, dict]) -> str:
    if run == BEST:
        choice = best_choice_of(pair, results)
        return f'best 2D extension ({choice["chosen"]})' if choice else 'best 2D extension'
    return run


def health_runs(pairs: Sequence[Pair], results: Dict[str, dict]) -> List[tuple]:
    """(pair, [runs]) of the health figure: focal, paper and the best extension (the best
    on 2D val; SA-SSD's best-2d run)."""
    best_2d = None
    for pair in pairs:
        choice = best_choice_of(pair, results)
        if choice:
            best_2d = choice['best_on_val']
    rows = []
    for pair in pairs:
        runs = [r for r in ('focal', 'paper') if r in pair.variants]
        if BEST in pair.variants:
            runs.append(BEST)
        elif best_2d in pair.variants:
            runs.append(best_2d)
        else:  # no choice made (e.g. the 3D pair not run): the best on this pair's val
            candidates = [v for v in EXTENSIONS if v in pair.variants]
            if candidates:
                val = summarise_pair(pair, results, 'val')['runs']
                monitor = MONITOR[pair.kind]
                scored = [(val[c]['numbers'].get(monitor, summarise([]))['mean'], c)
                          for c in candidates]
                scored = [(v, c) for v, c in scored if math.isfinite(v)]
                if scored:
                    runs.append(max(scored, key=lambda t: t[0])[1])
        rows.append((pair, runs))
    return rows


def health_figure(pairs: Sequence[Pair], results: Dict[str, dict], out: Path
                  ) -> Optional[Path]:
    """One PNG: per pair (row) and health key (column), each run's curve over the
    continuation's iterations, one line per seed; ``None`` when no run logged them
    (the health hook not registered)."""
    from matplotlib.figure import Figure

    from rankdet.analysis.score_figures import save_figure

    rows = []
    for pair, runs in health_runs(pairs, results):
        curves = {}
        for run in runs:
            for seed in pair.seeds:
                result = results.get(f'{pair.name}/seed{seed}/{run}')
                if result:
                    found = result.get('health') or health_curves(result.get('scalars_file'))
                    if found:
                        curves[(run, seed)] = found
        if curves:
            rows.append((pair, runs, curves))
    if not rows:
        return None
    colours = ('tab:blue', 'tab:red', 'tab:green', 'tab:purple')
    figure = Figure(figsize=(5.5 * len(HEALTH_KEYS), 3.6 * len(rows)))
    for r, (pair, runs, curves) in enumerate(rows):
        for c, (key, title) in enumerate(HEALTH_KEYS):
            axes = figure.add_subplot(len(rows), len(HEALTH_KEYS), r * len(HEALTH_KEYS) + c + 1)
            for i, run in enumerate(runs):
                for seed in pair.seeds:
                    points = curves.get((run, seed), {}).get(key)
                    if not points:
                        continue
                    xs, ys = zip(*points)
                    axes.plot(xs, ys, color=colours[i % len(colours)], lw=1.2, alpha=0.8,
                              label=_label(pair, run, results) if seed == pair.seeds[0]
                              else None)
            axes.set_title(f'{pair.name}: {title}', fontsize=10)
            axes.set_xlabel('iteration of the continuation')
            axes.grid(alpha=0.3)
            if axes.get_legend_handles_labels()[0]:
                axes.legend(fontsize=8)
    figure.suptitle('Training health (RankingHealthHook), one line per seed', fontsize=12)
    figure.tight_layout()
    return save_figure(figure, out, dpi=90)


def _fmt(value, digits=3) -> str:
    return '–' if value is None or not math.isfinite(value) else f'{value:.{digits}f}'


def warm_lines(pair: Pair, warm: Optional[dict], anneal: Optional[dict] = None
               ) -> List[str]:
    """The report's warm-start lines (its constant phase, then its decay phase if the
    pair's warm start has one)."""
    if warm is None:
        return ['Warm start: not run.']
    monitor = warm['monitor']
    digits = 2 if pair.kind == '3d' else 3
    if warm['stopped'] == 'plateau':
        how = (f'it plateaued at iteration {warm["best_iter"]} (stopped at '
               f'{warm["trained_iters"]}: no rise above {pair.warm.min_delta} for '
               f'{pair.warm.patience} validations)')
    elif warm['best'] is not None and warm['best'] <= pair.warm.min_delta:
        how = (f'it never rose above {pair.warm.min_delta} up to the maximum length '
               f'({warm["trained_iters"]} iterations): NOT converged, and NOT a detector '
               f'yet; continuations from it compare losses on a detector that finds '
               f'(almost) nothing')
    else:
        how = (f'it was still rising at the maximum length ({warm["trained_iters"]} '
               f'iterations; best at {warm["best_iter"]}): NOT converged')
    tested, history = _phase_numbers(warm, digits)
    starts = ('the decay phase' if pair.warm.anneal_iters else 'every seed and variant')
    line = (f'**Warm start** (focal, seed {pair.warm.seed}, from random weights, constant '
            f'learning rate, validated every {pair.warm.eval_every} iterations): val '
            f'{monitor} {_fmt(warm["best"], digits)}; {how}. Its best checkpoint starts '
            f'{starts}; {tested}')
    lines = [line, '', f'Val {monitor} by iteration: {history}.']
    if pair.warm.anneal_iters:
        lines += [''] + anneal_lines(pair, anneal, warm['best'])
    return lines


def anneal_lines(pair: Pair, anneal: Optional[dict], before: Optional[float]) -> List[str]:
    """The report's lines on the warm start's decay phase: its best val AP, whether it
    ended on a plateau (no rise above ``min_delta`` in its last ``patience``
    validations) and its test numbers."""
    if anneal is None:
        return ['Decay phase: not run.']
    monitor = anneal['monitor']
    digits = 2 if pair.kind == '3d' else 3
    warm = pair.warm
    if anneal.get('stale', 0) >= warm.patience:
        how = (f'converged: no rise above {warm.min_delta} in its last {warm.patience} '
               f'validations (best at iteration {anneal["best_iter"]} of '
               f'{anneal["trained_iters"]})')
    else:
        how = (f'NOT converged by the rule: it rose by more than {warm.min_delta} within '
               f'its last {warm.patience} validations (best at iteration '
               f'{anneal["best_iter"]} of {anneal["trained_iters"]})')
    tested, history = _phase_numbers(anneal, digits)
    line = (f'**Decay phase** (focal, from that checkpoint, {warm.anneal_iters} iterations '
            f'with a warm-up and cosine decay of the rate, validated every '
            f'{warm.eval_every}): val {monitor} {_fmt(before, digits)} -> '
            f'{_fmt(anneal["best"], digits)}; {how}. Its best checkpoint starts every seed '
            f'and variant; {tested}')
    return [line, '', f'Val {monitor} by iteration of the decay phase: {history}.']


def _phase_numbers(record: dict, digits: int) -> Tuple[str, str]:
    """A warm-start phase's test numbers (and the positives' mean score at its end) as
    a sentence, and its val history as ``iter: AP, ...``."""
    monitor = record['monitor']
    test = record['metrics'].get('test', {}).get(monitor)
    thr0 = record['metrics'].get('test_thr0', {}).get(monitor)
    tested = (f'on test: {monitor} {_fmt(test, digits)} (score_thr=0: '
              f'{_fmt(thr0, digits)}).')
    if record.get('pos_score_mean_last') is not None:
        tested += (f' Mean score of the positives at its end: '
                   f'{record["pos_score_mean_last"]:.3f}.')
    history = ', '.join(f'{h["iter"]}: {_fmt(h[monitor], digits)}' for h in record['history'])
    return tested, history


def view_table(pair: Pair, summary: dict, view: str, results: Dict[str, dict]
               ) -> List[str]:
    """The Markdown table of one view."""
    columns = list(METRIC_COLUMNS[pair.kind])
    if view == 'test':
        columns += list(PAIR_COLUMNS) + [('s/iter', 's/iter')]
    lines = ['| run | ' + ' | '.join(title for _, title in columns) + ' |',
             '|---|' + '---:|' * len(columns)]
    for run, numbers in summary['runs'].items():
        cells = [_cell(numbers['numbers'].get(key, summarise([])), _digits(key, pair.kind))
                 for key, _ in columns]
        lines.append(f'| {_label(pair, run, results)} | ' + ' | '.join(cells) + ' |')
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
        lines.append(f'| {_label(pair, run, results)} − focal | ' + ' | '.join(cells) + ' |')
    return lines


def pair_markdown(pair: Pair, summaries: Dict[str, dict], warm: Optional[dict],
                  anneal: Optional[dict], choice: Optional[dict], figure: Optional[Path],
                  results: Dict[str, dict], work_dir: Path) -> List[str]:
    """The Markdown section of one pair (``warm``, ``anneal``: :func:`warm_summary` of its
    warm start's two phases)."""
    seeds = ', '.join(str(s) for s in pair.seeds)
    lines = [f'### {pair.name}', '', f'{pair.description}.', ''] + warm_lines(
        pair, warm, anneal)
    rate = ('' if pair.lr_factor == 1.0 else
            f' at {pair.lr_factor:g} times the config\'s learning rate')
    start = ("the decay phase's best checkpoint" if pair.warm.anneal_iters else
             "the warm start's best checkpoint")
    lines += ['', f'Continuations: {pair.iters} iterations of each variant from {start} '
              f'with a fresh schedule{rate} (the same images, order and augmentation '
              f'for every variant; only the loss differs); seeds {seeds}; mean ± sample '
              f'standard deviation over seeds; "− focal" rows are paired by seed, with the '
              f'seeds where the variant is better in brackets.', '']
    if choice:
        lines += [f'**Best 2D extension** (chosen on the {choice["source"]} val split, before '
                  f'any test number is read): **{choice["chosen"]}**, {choice["reason"]}; '
                  'mean val AP: ' + ', '.join(f'{k} {v:.4f}' for k, v in
                                              choice['val_ap'].items()) + '.', '']
    for view, title in VIEWS:
        lines += [f'**{title}**', ''] + view_table(pair, summaries[view], view, results) + ['']
    lines += ['Reverse-pair ratios (Table 3) and Spearman ρ (confidence vs IoU of positives) '
              'are measured on the test images with the head\'s own anchor assignment; '
              's/iter compares training time per iteration (runs go two at a time).']
    test = summaries['test']
    gradient_runs = {run: r['gradient_norms_at_start'] for run, r in test['runs'].items()
                     if 'gradient_norms_at_start' in r}
    if gradient_runs:
        lines += ['', 'Gradient norm of each loss term (all parameters) at the warm-start '
                  'checkpoint, mean over seeds and batches:', '']
        for run, norms in gradient_runs.items():
            terms = ', '.join(f'{term} {value["mean"]:.3g}' for term, value in norms.items())
            lines.append(f'- {_label(pair, run, results)}: {terms}')
    loss_runs = {run: r['losses'] for run, r in test['runs'].items() if 'losses' in r}
    if loss_runs:
        lines += ['', 'Training losses, mean of the first and last tenth of each run:', '']
        for run, losses in loss_runs.items():
            terms = ', '.join(f'{term} {v["first"]["mean"]:.3f} → {v["last"]["mean"]:.3f}'
                              for term, v in losses.items() if term != 'loss')
            lines.append(f'- {_label(pair, run, results)}: {terms}')
    if figure is not None:
        lines += ['', f'![{pair.name} Figure 3]({os.path.relpath(figure, work_dir)})']
    return lines + ['']


def write_report(plan: Plan, pairs: Sequence[Pair], results: Dict[str, dict], work_dir,
                 command: str = '', seconds: Optional[dict] = None) -> dict:
    """Summarise ``results`` (job name -> result) into ``<profile>.json`` and ``.md``."""
    work_dir = Path(work_dir)
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    report = dict(profile=plan.profile, date=now, machine=machine(), command=command,
                  seconds=seconds or {}, pairs={},
                  variants={v.name: v.label for v in plan.variants})
    info = report['machine']
    lines = [f'# rankdet: ranking vs focal ({plan.profile})', '',
             f'Measured {now} on {info["cpu"]} ({info["cores"]} cores'
             f'{", GPU " + info["gpu"] if info["gpu"] else ", no GPU"}), torch '
             f'{info["torch"]}, with `{command}`'
             + (f' in {seconds["total"] / 60:.0f} min' if seconds and 'total' in seconds
                else '') + '.', '',
             'Variants (declared in apps/evidence/experiments.py before the run):', '']
    used = {run for pair in pairs for run in pair.variants}
    lines += [f'- {v.name}: {v.label}' for v in plan.variants if v.name in used]
    if BEST in used:
        lines.append(f'- {BEST}: the extension with the best mean 2D val AP among '
                     f'{", ".join(EXTENSIONS)}, on SA-SSD')
    lines.append('')
    health = health_figure(pairs, results, work_dir / f'{plan.profile}_health.png')
    report['health_figure'] = str(health) if health else None
    if health is not None:
        lines += [f'![training health]({os.path.relpath(health, work_dir)})', '']
    else:
        lines += ['(No training-health curves: no run logged rank/pos_score_mean.)', '']
    for pair in pairs:
        summaries = {view: summarise_pair(pair, results, view) for view, _ in VIEWS}
        runs = [r for r in ('focal', 'paper', BEST) if r in pair.variants] or list(
            pair.variants)
        figure = side_by_side(pair, runs, results, work_dir / f'{pair.name}_figure3.png')
        warm = warm_summary(pair, results)
        anneal = warm_summary(pair, results, 'warm-anneal')
        choice = best_choice_of(pair, results)
        report['pairs'][pair.name] = dict(
            description=pair.description, kind=pair.kind, iters=pair.iters,
            warm=warm, warm_anneal=anneal, warm_start=asdict(pair.warm),
            lr_factor=pair.lr_factor, best_choice=choice,
            variants=list(pair.variants), seeds=list(pair.seeds),
            figure=str(figure) if figure else None, views=summaries)
        lines += pair_markdown(pair, summaries, warm, anneal, choice, figure, results,
                               work_dir)
    write_json(work_dir / f'{plan.profile}.json', report)
    markdown = work_dir / f'{plan.profile}.md'
    atomic_write_text(markdown, '\n'.join(lines))
    report['markdown'] = str(markdown)
    return report
