"""tools/compare.py: the tiny profile runs the whole evidence protocol (three-way data
split, plateau-stopped warm starts, every variant's continuation, val and two test
views, the best 2D extension on SA-SSD, pair analysis, report) through the real command
line; the plan, the choice, the scheduler and the report are checked on their own.
"""
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from apps.evidence.comparison import build_jobs
from apps.evidence.experiments import (ABLATION_VARIANTS, BEST, EXTENSIONS, VARIANTS,
                                       choose_best, make_plan)
from apps.evidence.report import summarise, summarise_pair
from apps.evidence.scheduler import Job, JobFailed, run_jobs

REPO = Path(__file__).resolve().parents[1]
TINY_RUNS = {'2d-synthetic': ('focal', 'paper', 'ohem'), '3d-synthetic': ('focal', BEST)}
#: the job whose best checkpoint starts the continuations (the tiny 2D warm start has a
#: decay phase, the tiny 3D one none: both paths run)
START = {'2d-synthetic': 'warm-anneal', '3d-synthetic': 'warm'}


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('compare')
    command = [sys.executable, str(REPO / 'tools' / 'compare.py'), 'tiny', '--work-dir',
               str(root / 'work'), '--data-dir', str(root / 'data'), '--no-progress']
    # the timeouts only guard against a hang: on a shared, busy machine the runs take
    # many times their quiet-machine length
    first = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return root, command, first.stdout


def test_tiny_comparison_reports_every_variant_view_and_warm_start(tiny_run):
    root, _, stdout = tiny_run
    work = root / 'work'
    report = json.loads((work / 'tiny.json').read_text())
    markdown = (work / 'tiny.md').read_text()
    assert set(report['pairs']) == set(TINY_RUNS)
    assert '| paper − focal |' in markdown and 'ranking vs focal' in stdout
    ranking = {'2d-synthetic': 'paper', '3d-synthetic': BEST}
    for name, pair in report['pairs'].items():
        metrics = ('AP', 'AP50', 'AP75') if name.startswith('2d') else (
            '3D_AP40_moderate', 'BEV_AP40_hard')
        for view in ('test', 'test_thr0', 'val'):
            runs = pair['views'][view]['runs']
            assert set(runs) == set(TINY_RUNS[name])  # (JSON keys come sorted)
            for run in runs.values():
                for key in metrics:
                    assert 0 <= run['numbers'][key]['mean'] <= 100
        test = pair['views']['test']
        for run in test['runs'].values():
            assert run['numbers']['s/iter']['mean'] > 0
            for key in ('F-B', 'P-N'):  # every test image has positives and background
                assert 0 <= run['numbers'][key]['mean'] <= 1
            # P-P and Spearman need positives whose IoUs differ: a detector of a few
            # iterations may decode every 3D box off its car (IoU 0 for all), then
            # neither is defined and the report says so (None), both together
            pp, rho = run['numbers']['P-P']['mean'], run['numbers']['spearman']['mean']
            if name.startswith('2d') or pp is not None:
                assert 0 <= pp <= 1 and -1 <= rho <= 1
            else:
                assert rho is None and '–' in markdown
        assert 'loss_cls' in test['runs']['focal']['gradient_norms_at_start']
        rank = ranking[name]
        assert {'loss_rank_global', 'loss_rank_class', 'loss_rank_iou'} <= set(
            test['runs'][rank]['gradient_norms_at_start'])
        difference = test['differences_from_focal'][rank]['F-B']['mean']
        assert math.isclose(difference, test['runs'][rank]['numbers']['F-B']['mean']
                            - test['runs']['focal']['numbers']['F-B']['mean'], abs_tol=1e-9)
        assert Path(pair['figure']).is_file()
        # the warm start: validated every 2 iterations, stopped by its rule
        warm = pair['warm']
        assert [h['iter'] for h in warm['history']] == list(
            range(2, warm['trained_iters'] + 1, 2))
        best = max(h[warm['monitor']] for h in warm['history'])
        assert warm['best'] == best
        if warm['stopped'] == 'plateau':  # patience 1: one validation without a rise
            assert warm['trained_iters'] == warm['best_iter'] + 2
        else:
            plan = {p.name: p for p in make_plan('tiny').pairs}
            assert warm['trained_iters'] == plan[name].warm.max_iters
        assert f'val {warm["monitor"]}' in markdown
        anneal = pair['warm_anneal']
        if START[name] == 'warm-anneal':  # one validation at the end of its 2 iterations
            assert [h['iter'] for h in anneal['history']] == [2]
            assert anneal['schedule'] == 'anneal' and anneal['best_iter'] == 2
            assert '**Decay phase**' in markdown
        else:
            assert anneal is None
    # the 3D best extension: chosen on the 2D val split among the tiny 2D extensions
    # (ohem only; the choice among several is tested below)
    choice = report['pairs']['3d-synthetic']['best_choice']
    val = report['pairs']['2d-synthetic']['views']['val']['runs']
    assert choice['val_ap'] == pytest.approx({'ohem': val['ohem']['numbers']['AP']['mean']})
    assert choice['chosen'] == 'ohem'
    spec = json.loads((work / '3d-synthetic/seed0' / BEST / 'job.json').read_text())
    assert spec['variant'] == 'ohem'
    assert spec['cfg_options']['model.bbox_head.loss_cls.mining'] == 'ohem'
    assert '**Best 2D extension** (chosen on the 2d-synthetic val split' in markdown


def test_tiny_runs_share_the_warm_start_and_differ_only_in_the_loss(tiny_run):
    root, _, _ = tiny_run
    work = root / 'work'
    for pair, runs in TINY_RUNS.items():
        warm_dir = work / pair / 'warm'
        warm_spec = json.loads((warm_dir / 'job.json').read_text())
        assert warm_spec['load_from'] is None and warm_spec['warm']['patience'] == 1
        assert 'anneal_iters' not in warm_spec['warm']
        best = warm_dir / 'best.pth'
        assert best.is_file()
        if START[pair] == 'warm-anneal':
            # the decay phase: focal from the constant phase's best, its rate decayed
            anneal_spec = json.loads((work / pair / 'warm-anneal' / 'job.json').read_text())
            assert anneal_spec['load_from'] == str(best)
            assert anneal_spec['warm']['schedule'] == 'anneal'
            assert anneal_spec['config'] == warm_spec['config']
            best = work / pair / 'warm-anneal' / 'best.pth'
            assert best.is_file()
            log = (work / pair / 'warm-anneal' / 'job.log').read_text()
            assert f'Load checkpoint from {warm_dir / "best.pth"}' in log
        specs = {run: json.loads((work / pair / 'seed0' / run / 'job.json').read_text())
                 for run in runs}
        for run, spec in specs.items():
            assert spec['load_from'] == str(best)
            assert f'Load checkpoint from {best}' in (
                work / pair / 'seed0' / run / 'job.log').read_text()
            # test split: another generator seed's set, not the train/val one
            assert spec['test_root'] != spec['data_root']
            assert [view for view, _ in spec['test_views']] == ['test', 'test_thr0']
        allowed = {'name', 'config', 'work_dir', 'variant', 'cfg_options', 'choice'}
        for run in runs[1:]:
            differing = {k for k in set(specs['focal']) | set(specs[run])
                         if specs['focal'].get(k) != specs[run].get(k)}
            assert differing <= allowed, (run, differing)
            extra = set(specs[run]['cfg_options']) - set(specs['focal']['cfg_options'])
            assert all(key.startswith('model.bbox_head.loss_') for key in extra)
    # the headline test settings: the paper's in 2D, SA-SSD's own in 3D
    focal_3d = json.loads((work / '3d-synthetic/seed0/focal/job.json').read_text())
    assert focal_3d['test_cfg'] == {}
    focal_2d = json.loads((work / '2d-synthetic/seed0/focal/job.json').read_text())
    assert focal_2d['test_cfg'] == {'score_thr': 0.05, 'max_per_img': 100,
                                    'nms': {'type': 'soft_nms', 'iou_threshold': 0.6}}


def test_tiny_data_split_is_three_way_and_disjoint(tiny_run):
    root, _, _ = tiny_run
    data = root / 'data'
    records = {name: json.loads((data / name / 'SYNTHETIC.json').read_text())['config']
               for name in ('coco', 'coco-test', 'kitti', 'kitti-test')}
    assert records['coco']['seed'] != records['coco-test']['seed']
    assert records['kitti']['seed'] != records['kitti-test']['seed']
    plan = make_plan('tiny')
    assert (records['coco']['num_train'], records['coco']['num_val'],
            records['coco-test']['num_val']) == (plan.data.coco_train, plan.data.coco_val,
                                                 plan.data.coco_test)

    def pixels(name):
        from PIL import Image
        folder = data / name / 'val2017'
        return {Image.open(f).tobytes() for f in sorted(folder.glob('*.png'))}
    assert not pixels('coco') & pixels('coco-test')


def test_rerun_keeps_finished_runs(tiny_run):
    _, command, _ = tiny_run
    again = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    # + the warm starts and the decay phases
    total = sum(len(runs) + 1 + (START[pair] != 'warm') for pair, runs in TINY_RUNS.items())
    assert again.stdout.count('done earlier') == total
    assert '] start ' not in again.stdout  # no run trained again


def test_variants_are_the_declared_ones():
    assert [v.name for v in VARIANTS] == ['focal', 'paper', 'ohem', 'size', 'logit',
                                          'rank+focal']
    by_name = {v.name: v for v in VARIANTS}
    assert by_name['focal'].loss == 'focal' and by_name['paper'].loss_cls == {}
    assert by_name['ohem'].loss_cls == {'mining': 'ohem'}
    assert by_name['size'].loss_cls == {'group_weighting': 'size'}
    assert by_name['logit'].loss_cls == {'score_space': 'logit', 'rank_fn': 'logistic'}
    assert by_name['rank+focal'].pointwise and by_name['rank+focal'].loss_cls == {}
    assert EXTENSIONS == ('ohem', 'size', 'logit', 'rank+focal')
    plan = make_plan('evidence')
    two, three = plan.pairs
    assert two.variants == tuple(by_name) and two.seeds == three.seeds == (0, 1, 2)
    assert three.variants == ('focal', 'paper', BEST)
    # the ablation labels follow docs/method.md section 7's Table 4 mapping
    labels = {v.name: (v.loss_cls, v.label) for v in ABLATION_VARIANTS}
    assert labels['iou-bp-both'][0] == {'iou_bp': 'both'} and 'Exp. 8' in labels[
        'iou-bp-both'][1]
    assert labels['iou-bp-none'][0] == {'iou_bp': 'none'} and 'Exp. 6' in labels[
        'iou-bp-none'][1]
    assert labels['ohem'][0] == {'mining': 'ohem'} and 'Exp. 9' in labels['ohem'][1]
    assert labels['paper'][0] == {} and 'Exp. 10' in labels['paper'][1]


def test_choose_best_is_the_highest_mean_val_ap_with_a_form_for_the_head():
    val = {'ohem': [0.10, 0.12], 'size': [0.20, 0.10], 'logit': [0.16, 0.15],
           'rank+focal': [0.30, 0.01]}
    means = {k: sum(v) / len(v) for k, v in val.items()}
    best = max(means, key=means.get)
    assert best == 'logit'
    choice = choose_best(val, '2d')
    assert choice['chosen'] == choice['best_on_val'] == 'logit'
    assert choice['val_ap'] == pytest.approx(means)
    val['rank+focal'] = [0.30, 0.20]  # best on val, but SA-SSD's head has no pointwise loss
    choice = choose_best(val, '3d')
    assert choice['best_on_val'] == 'rank+focal' and choice['chosen'] == 'logit'
    assert 'no 3d form' in choice['reason']
    assert choose_best(val, '2d')['chosen'] == 'rank+focal'
    tie = {'ohem': [0.1], 'size': [0.1], 'logit': [0.05], 'rank+focal': [0.0]}
    assert choose_best(tie, '3d')['chosen'] == 'ohem'  # ties go to the declared order
    with pytest.raises(ValueError, match="no val AP for extension 'size'"):
        choose_best({'ohem': [0.1]}, '3d')


def test_plan_jobs_share_warm_start_seed_data_and_schedule(tmp_path):
    plan = make_plan('evidence')
    roots = {'coco-synthetic': tmp_path / 'c', 'coco-synthetic-test': tmp_path / 'ct',
             'kitti-synthetic': tmp_path / 'k', 'kitti-synthetic-test': tmp_path / 'kt'}
    jobs = build_jobs(plan, roots, tmp_path / 'work')
    names = [job.name for job in jobs]
    assert names[:4] == ['2d-synthetic/warm', '3d-synthetic/warm', '2d-synthetic/warm-anneal',
                         '3d-synthetic/warm-anneal']
    assert len(names) == len(set(names)) == 4 + 3 * 6 + 3 * 3
    by_name = {job.name: job for job in jobs}
    for pair, warm_start in zip(('2d-synthetic', '3d-synthetic'), plan.pairs):
        warm, anneal = by_name[f'{pair}/warm'], by_name[f'{pair}/warm-anneal']
        assert anneal.after == [warm.name]
        assert anneal.spec['load_from'] == str(Path(warm.spec['work_dir']) / 'best.pth')
        assert anneal.spec['iters'] == anneal.spec['warm']['max_iters'] == \
            anneal.spec['warm']['min_iters'] == warm_start.warm.anneal_iters > 0
        assert anneal.spec['warm']['schedule'] == 'anneal'
        assert 'schedule' not in warm.spec['warm'] and 'anneal_iters' not in warm.spec['warm']
        same = {k for k in warm.spec if warm.spec[k] == anneal.spec[k]}
        assert set(warm.spec) - same == {'name', 'iters', 'warm', 'load_from', 'work_dir'}
    for job in jobs[4:]:
        pair = job.name.split('/')[0]
        start = by_name[f'{pair}/warm-anneal']
        assert start.name in job.after
        if job.resolve is None:
            assert job.spec['load_from'] == str(Path(start.spec['work_dir']) / 'best.pth')
            # every continuation at a tenth of its config's learning rate
            rate = job.spec['cfg_options']['optim_wrapper.optimizer.lr']
            assert rate == pytest.approx(0.1 * (1e-3 if pair == '2d-synthetic' else 3e-3))
            for key in ('iters', 'data_root', 'test_root', 'kind', 'test_cfg', 'test_views'):
                assert job.spec[key] == by_name[f'{pair}/seed0/focal'].spec[key]
            assert job.spec['seed'] == int(job.name.split('/')[1][4:])
    pointwise = by_name['2d-synthetic/seed2/rank+focal'].spec['cfg_options']
    assert pointwise == {'model.bbox_head.loss_pointwise': dict(
        type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        'optim_wrapper.optimizer.lr': pytest.approx(1e-4)}
    best = by_name[f'3d-synthetic/seed1/{BEST}']
    assert set(best.after) == {'3d-synthetic/warm-anneal'} | {
        f'2d-synthetic/seed{s}/{v}' for s in (0, 1, 2) for v in EXTENSIONS}
    # the choice made from val numbers
    results = {f'2d-synthetic/seed{s}/{v}': {'metrics': {'val': {'AP': ap}}}
               for s in (0, 1, 2) for v, ap in zip(EXTENSIONS, (0.1, 0.3, 0.2, 0.0))}
    spec = best.resolve(results)
    assert spec['variant'] == 'size' and spec['seed'] == 1
    assert spec['load_from'] == str(Path(by_name['3d-synthetic/warm-anneal'].spec[
        'work_dir']) / 'best.pth')
    assert spec['cfg_options'] == {'model.bbox_head.loss_cls.group_weighting': 'size',
                                   'optim_wrapper.optimizer.lr': pytest.approx(3e-4)}
    assert spec['choice']['chosen'] == 'size'
    warm_2d = by_name['2d-synthetic/warm'].spec
    assert warm_2d['warm']['monitor'] == 'AP' and warm_2d['iters'] == plan.pairs[0].warm.max_iters
    with pytest.raises(ValueError, match='unknown profile'):
        make_plan('evidense')


def test_ablation_reuses_the_evidence_runs(tmp_path):
    roots = {'coco-synthetic': tmp_path / 'c', 'coco-synthetic-test': tmp_path / 'ct',
             'kitti-synthetic': tmp_path / 'k', 'kitti-synthetic-test': tmp_path / 'kt'}
    evidence = {j.name: j.spec for j in build_jobs(make_plan('evidence'), roots, tmp_path)}
    ablation = {j.name: j.spec for j in build_jobs(make_plan('ablation'), roots, tmp_path)}
    shared = set(evidence) & set(ablation)
    assert shared == {'2d-synthetic/warm', '2d-synthetic/warm-anneal', '2d-synthetic/seed0/focal',
                      '2d-synthetic/seed0/paper', '2d-synthetic/seed0/ohem'}
    for name in shared:
        assert evidence[name] == ablation[name]
    assert ablation['2d-synthetic/seed0/iou-bp-both']['cfg_options'] == {
        'model.bbox_head.loss_cls.iou_bp': 'both', 'optim_wrapper.optimizer.lr': 1e-4}


def test_summaries_and_paired_differences():
    assert summarise([1.0, 2.0, 3.0]) == dict(mean=2.0, sd=1.0, n=3, values=[1.0, 2.0, 3.0])
    assert summarise([0.5, None])['n'] == 1
    assert math.isnan(summarise([])['mean'])
    plan = make_plan('tiny')
    pair = dataclasses.replace(plan.pairs[0], seeds=(0, 1), variants=('focal', 'paper'))

    def result(ap, fb, seconds, val_ap):
        return dict(spec={'variant': None},
                    metrics=dict(test=dict(AP=ap, AP50=ap, AP75=ap),
                                 val=dict(AP=val_ap, AP50=val_ap, AP75=val_ap)),
                    pairs=dict(ratios={'F-B': fb, 'P-N': float('nan'), 'P-P': 0.4},
                               spearman=0.1),
                    training=dict(seconds_per_iter=seconds,
                                  losses={'loss': dict(first=1.0, last=0.5)}))
    results = {}
    for seed, (focal, rank) in enumerate([((0.10, 0.30, 1.0, 0.2), (0.12, 0.20, 1.1, 0.1)),
                                          ((0.20, 0.25, 1.0, 0.2), (0.16, 0.30, 1.2, 0.3))]):
        results[f'{pair.name}/seed{seed}/focal'] = result(*focal)
        results[f'{pair.name}/seed{seed}/paper'] = result(*rank)
    summary = summarise_pair(pair, results, 'test')
    diff = summary['differences_from_focal']['paper']
    assert diff['AP']['values'] == pytest.approx([0.02, -0.04])
    assert diff['AP']['seeds_better'] == 1
    assert diff['F-B']['values'] == pytest.approx([-0.10, 0.05])
    assert diff['F-B']['seeds_better'] == 1  # lower is better for reverse pairs
    assert diff['s/iter ratio']['values'] == pytest.approx([1.1, 1.2])
    assert summary['runs']['paper']['numbers']['P-N']['n'] == 0  # NaN is left out
    val = summarise_pair(pair, results, 'val')
    assert val['differences_from_focal']['paper']['AP']['values'] == pytest.approx([-0.1, 0.1])
    assert 'F-B' not in val['runs']['paper']['numbers']  # the analysis is on test only


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
    import apps.evidence.scheduler as scheduler

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


def test_scheduler_resolves_a_spec_from_earlier_results_and_keeps_it(tmp_path, monkeypatch):
    """A job whose spec is made from its dependencies' results runs with that spec, and
    a rerun with the same results keeps it."""
    import apps.evidence.scheduler as scheduler

    started = []

    class Finished:
        def __init__(self, command, stdout, stderr, env):
            spec = json.loads(Path(command[-1]).read_text())
            started.append(spec['name'])
            (Path(spec['work_dir']) / 'result.json').write_text(json.dumps(
                {'spec': spec, 'value': len(started)}))

        def poll(self):
            return 0

    monkeypatch.setattr(scheduler.subprocess, 'Popen', Finished)

    def jobs():
        def resolve(results):
            return dict(name='b', work_dir=str(tmp_path / 'b'), got=results['a']['value'])
        return [Job('a', dict(name='a', work_dir=str(tmp_path / 'a'))),
                Job('b', dict(work_dir=str(tmp_path / 'b')), after=['a'], resolve=resolve)]
    results = run_jobs(jobs(), workers=2, log=lambda line: None, poll_seconds=0)
    assert started == ['a', 'b'] and results['b']['spec']['got'] == 1
    lines = []
    again = run_jobs(jobs(), workers=2, log=lines.append, poll_seconds=0)
    assert started == ['a', 'b'] and again['b'] == results['b']
    assert sum('done earlier' in line for line in lines) == 2
