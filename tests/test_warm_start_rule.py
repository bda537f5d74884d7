"""The warm start's stopping rule (apps.evidence.job.WarmStartMonitor) on sequences of
val APs: a plateau stops it, a run that finds nothing yet does not stop, and its best
checkpoint is then the latest. The runner here is a stand-in that records what the
monitor asks of mmengine's (save a checkpoint, log, stop the loop)."""
from types import SimpleNamespace

import pytest

from apps.evidence.job import WarmStartMonitor


class RunnerStandIn:
    def __init__(self):
        self.iter = 0
        self.saved = []          # iterations whose weights became best.pth
        self.train_loop = SimpleNamespace(stop_training=False)
        self.logger = SimpleNamespace(info=lambda message: None)

    def save_checkpoint(self, out_dir, filename, **kwargs):
        self.saved.append(self.iter)


def run_rule(aps, patience=3, min_delta=0.5, min_iters=0, every=120):
    """Feed ``aps`` (3D AP R40 moderate, %) to the monitor, one validation each ``every``
    iterations, until it stops; returns (best iteration, saved iterations, stop iteration)."""
    warm = dict(patience=patience, min_delta=min_delta, min_iters=min_iters,
                monitor='3D_AP40_moderate')
    monitor = WarmStartMonitor('3d', '/nowhere', warm)
    runner = RunnerStandIn()
    prefix = 'Kitti metric/pred_instances_3d/KITTI/Car_'
    for k, ap in enumerate(aps, 1):
        runner.iter = k * every
        metrics = {f'{prefix}{kind}_AP40_{level}_strict': 0.0
                   for kind in ('3D', 'BEV') for level in ('easy', 'moderate', 'hard')}
        metrics[f'{prefix}3D_AP40_moderate_strict'] = ap
        monitor.after_val_epoch(runner, metrics)
        if runner.train_loop.stop_training:
            return monitor.best['iter'], runner.saved, runner.iter
    return monitor.best['iter'], runner.saved, None


def test_a_plateau_stops_and_keeps_the_best():
    best, saved, stop = run_rule([2.0, 5.0, 5.2, 4.0, 5.4])
    assert (best, stop) == (240, 600) and saved == [120, 240]


def test_a_run_that_finds_nothing_does_not_stop_and_keeps_its_latest():
    """The fault: AP 0 at every validation stopped the 2026-12-02 3D warm start at 480
    with iteration 120's weights as its best."""
    best, saved, stop = run_rule([0.0, 0.0, 0.04, 0.0, 0.0, 0.0], min_iters=480)
    assert stop is None and best == 720 and saved == [120, 240, 360, 480, 600, 720]


def test_the_count_starts_once_the_detector_is_measurable():
    best, saved, stop = run_rule([0.0, 0.0, 3.0, 3.1, 2.9, 3.3])
    assert (best, stop) == (360, 720) and saved == [120, 240, 360]


@pytest.mark.parametrize('min_iters, stop', [(0, 480), (720, 720)])
def test_no_stop_before_min_iters(min_iters, stop):
    assert run_rule([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], min_iters=min_iters)[2] == stop


@pytest.mark.parametrize('history,best,stopped,says', [
    ([0.0, 0.3, 0.2], 2, None, 'NOT a detector'),       # never above min_delta 0.5
    ([0.0, 4.0, 9.0], 2, None, 'still rising at the maximum length'),
    ([5.0, 5.1, 5.2, 5.3], 0, 'plateau', 'plateaued at iteration 120'),
])
def test_the_report_says_how_the_warm_start_ended(history, best, stopped, says):
    from apps.evidence.experiments import make_plan
    from apps.evidence.report import warm_lines

    pair = make_plan('evidence').pairs[1]  # 3D: min_delta 0.5, validated every 120
    monitor = '3D_AP40_moderate'
    warm = dict(monitor=monitor, stopped=stopped, best=history[best],
                best_iter=(best + 1) * 120, trained_iters=len(history) * 120,
                history=[{'iter': (k + 1) * 120, monitor: ap} for k, ap in enumerate(history)],
                metrics={'test': {monitor: 1.0}, 'test_thr0': {monitor: 1.0}})
    line = warm_lines(pair, warm)[0]
    assert says in line
    assert ('NOT converged' in line) == (stopped is None)


@pytest.mark.parametrize('history, stale, says', [
    # the 3D decay phase of 2026-12-08: best at 480, then 2 validations without a rise
    ([6.64, 20.34, 32.10, 38.38, 35.36, 37.91], 2, 'NOT converged by the rule'),
    ([6.64, 20.34, 38.38, 38.40, 38.10, 38.20], 3, 'converged: no rise above 0.5'),
])
def test_the_report_says_whether_the_decay_phase_converged(history, stale, says):
    from apps.evidence.experiments import make_plan
    from apps.evidence.report import warm_lines

    pair = make_plan('evidence').pairs[1]
    monitor = '3D_AP40_moderate'

    def record(aps, stale):
        best = max(range(len(aps)), key=lambda k: (aps[k], -k))
        return dict(monitor=monitor, stopped=None, best=aps[best], best_iter=(best + 1) * 120,
                    trained_iters=len(aps) * 120, stale=stale,
                    history=[{'iter': (k + 1) * 120, monitor: ap} for k, ap in enumerate(aps)],
                    metrics={'test': {monitor: 1.0}, 'test_thr0': {monitor: 1.0}})

    lines = warm_lines(pair, record([0.0, 25.74], 0), record(history, stale))
    decay = next(line for line in lines if line.startswith('**Decay phase**'))
    assert says in decay and ('NOT converged' in decay) == (stale < 3)
    assert f'25.74 -> {max(history):.2f}' in decay
    assert 'starts every seed and variant' in decay
    assert 'starts the decay phase' in lines[0]
