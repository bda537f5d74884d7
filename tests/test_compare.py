"""tools/compare.py: the tiny profile runs the whole evidence pipeline (data, warm start,
focal and ranking continuations, tests, pair analysis, report) through the real
command line; the plan, scheduler and report are checked on their own.
"""
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from rankdet.evidence.comparison import build_jobs
from rankdet.evidence.experiments import make_plan
from rankdet.evidence.report import summarise, summarise_pair
from rankdet.evidence.scheduler import Job, JobFailed, run_jobs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('compare')
    command = [sys.executable, str(REPO / 'tools' / 'compare.py'), 'tiny', '--work-dir',
               str(root / 'work'), '--data-dir', str(root / 'data'), '--no-progress']
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return root / 'work', command, first.stdout


def test_tiny_comparison_reports_both_losses(tiny_run):
    work, _, stdout = tiny_run
    report = json.loads((work / 'tiny.json').read_text())
    assert set(report['pairs']) == {'2d-synthetic', '3d-synthetic'}
    assert '| ranking − focal |' in (work / 'tiny.md').read_text()
    assert 'ranking vs focal' in stdout
    for name, pair in report['pairs'].items():
        runs = pair['runs']
        assert set(runs) == {'warm', 'focal', 'rank'}
        metrics = ('AP', 'AP50', 'AP75') if name.startswith('2d') else (
            '3D_AP40_moderate', 'BEV_AP40_hard')
        for run in runs.values():
            for key in metrics:
                assert 0 <= run['numbers'][key]['mean'] <= 100
            assert run['numbers']['s/iter']['mean'] > 0
        for run in ('focal', 'rank'):
            numbers = runs[run]['numbers']
            for key in ('F-B', 'P-P'):
                assert 0 <= numbers[key]['mean'] <= 1
            assert -1 <= numbers['spearman']['mean'] <= 1 or numbers['spearman']['n'] == 0
        # the terms each loss trains with, measured at the shared warm start
        assert 'loss_cls' in runs['focal']['gradient_norms_at_start']
        assert {'loss_rank_global', 'loss_rank_class', 'loss_rank_iou'} <= set(
            runs['rank']['gradient_norms_at_start'])
        assert Path(pair['figure']).is_file()
        difference = pair['differences_from_focal']['rank']['F-B']['mean']
        assert math.isclose(difference, runs['rank']['numbers']['F-B']['mean']
                            - runs['focal']['numbers']['F-B']['mean'], abs_tol=1e-9)


def test_tiny_continuations_start_from_the_warm_checkpoint(tiny_run):
    work, _, _ = tiny_run
    for pair in ('2d-synthetic', '3d-synthetic'):
        seed = work / pair / 'seed0'
        warm = seed / 'warm' / 'train' / 'iter_2.pth'
        specs = {run: json.loads((seed / run / 'job.json').read_text())
                 for run in ('focal', 'rank')}
        for run, spec in specs.items():
            assert spec['load_from'] == str(warm)
            assert f'Load checkpoint from {warm}' in (seed / run / 'job.log').read_text()
        differing = {k for k in specs['focal'] if specs['focal'][k] != specs['rank'][k]}
        assert differing == {'name', 'config', 'work_dir'}  # the loss, nothing else


def test_rerun_keeps_finished_runs(tiny_run):
    work, command, _ = tiny_run
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count('done earlier') == 6
    assert '] start ' not in again.stdout  # no run trained again


def test_plan_jobs_share_seed_data_and_schedule(tmp_path):
    plan = make_plan('ablation')
    roots = {'coco-synthetic': tmp_path}
    jobs = build_jobs(plan, roots, tmp_path / 'work')
    names = [job.name for job in jobs]
    assert names[0] == '2d-synthetic/seed0/warm'
    assert len(names) == len(set(names)) == 2 + len(plan.variants)
    warm = jobs[0]
    for job in jobs[1:]:
        assert job.after == [warm.name]
        assert job.spec['load_from'].startswith(warm.spec['work_dir'])
        for key in ('seed', 'iters', 'data_root', 'kind'):
            assert job.spec[key] == warm.spec[key]
    options = {job.name.rsplit('/', 1)[1]: job.spec['cfg_options'] for job in jobs}
    assert options['no-global'] == {'model.bbox_head.loss_cls.use_global': False}
    assert options['ohem'] == {'model.bbox_head.loss_cls.mining': 'ohem'}
    assert options['rank'] == options['focal'] == {}
    with pytest.raises(ValueError, match='unknown profile'):
        make_plan('evidense')


def test_summaries_and_paired_differences():
    assert summarise([1.0, 2.0, 3.0]) == dict(mean=2.0, sd=1.0, n=3, values=[1.0, 2.0, 3.0])
    assert summarise([0.5, None])['n'] == 1
    assert math.isnan(summarise([])['mean'])
    plan = make_plan('tiny')
    pair = dataclasses.replace(plan.pairs[0], seeds=(0, 1))

    def result(ap, fb, seconds):
        return dict(metrics=dict(AP=ap, AP50=ap, AP75=ap),
                    pairs=dict(ratios={'F-B': fb, 'P-N': float('nan'), 'P-P': 0.4},
                               spearman=0.1),
                    training=dict(seconds_per_iter=seconds,
                                  losses={'loss': dict(first=1.0, last=0.5)}))
    results = {}
    for seed, (focal, rank) in enumerate([((0.10, 0.30, 1.0), (0.12, 0.20, 1.1)),
                                          ((0.20, 0.25, 1.0), (0.16, 0.30, 1.2))]):
        results[f'{pair.name}/seed{seed}/warm'] = result(0.05, 0.5, 1.0)
        results[f'{pair.name}/seed{seed}/focal'] = result(*focal)
        results[f'{pair.name}/seed{seed}/rank'] = result(*rank)
    summary = summarise_pair(pair, ['warm', 'focal', 'rank'], results)
    diff = summary['differences_from_focal']['rank']
    assert diff['AP']['values'] == pytest.approx([0.02, -0.04])
    assert diff['AP']['seeds_better'] == 1
    assert diff['F-B']['values'] == pytest.approx([-0.10, 0.05])
    assert diff['F-B']['seeds_better'] == 1  # lower is better for reverse pairs
    assert diff['s/iter ratio']['values'] == pytest.approx([1.1, 1.2])
    assert summary['runs']['rank']['numbers']['P-N']['n'] == 0  # NaN is left out


def test_scheduler_refuses_bad_graphs_and_names_the_failed_job(tmp_path):
    with pytest.raises(ValueError, match='unknown jobs'):
        run_jobs([Job('a', dict(work_dir=str(tmp_path / 'a')), after=['b'])])
    with pytest.raises(ValueError, match='duplicate'):
        run_jobs([Job('a', dict(work_dir=str(tmp_path / 'a')))] * 2)
    spec = dict(name='broken', kind='2d', config=str(tmp_path / 'missing.py'),
                data_root=str(tmp_path), seed=0, iters=1, work_dir=str(tmp_path / 'broken'))
    later = Job('later', dict(spec, name='later', work_dir=str(tmp_path / 'later')),
                after=['broken'])
    with pytest.raises(JobFailed, match=r'(?s)job broken failed .*missing\.py does not exist'):
        run_jobs([Job('broken', spec), later], log=lambda line: None)
    assert not (tmp_path / 'later').exists()


def test_scheduler_starts_needed_jobs_first(tmp_path, monkeypatch):
    """A warm start that others wait for goes before independent runs listed earlier."""
    import rankdet.evidence.scheduler as scheduler

    started = []

    class Finished:
        def __init__(self, command, stdout, stderr, env):
            spec = json.loads(Path(command[-1]).read_text())
            started.append(spec['name'])
            (Path(spec['work_dir']) / 'result.json').write_text(json.dumps({'spec': spec}))

        def poll(self):
            return 0

    monkeypatch.setattr(scheduler.subprocess, 'Popen', Finished)
    jobs = [Job(name, dict(name=name, work_dir=str(tmp_path / name)), after=after)
            for name, after in [('a/focal', ['a/warm']), ('a/warm', []),
                                ('b/focal', ['b/warm']), ('b/warm', [])]]
    results = run_jobs(jobs, workers=1, log=lambda line: None, poll_seconds=0)
    assert started == ['a/warm', 'b/warm', 'a/focal', 'b/focal']
    assert set(results) == {job.name for job in jobs}
