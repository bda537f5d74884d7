"""RankingHealthHook in real training runs (mmengine's Runner, the repo's configs and
registries, no mocks), and TensorBoard beside the local files:

- the 2D ranking demo on a synthetic set logs rank/pos_score_mean, rank/bg_above_0.2 and
  rank/saturated to vis_data/scalars.json and to a TensorBoard events file;
- the focal baseline logs the two confidence statistics and no saturation flag;
- an OHEM ranking run from a collapsed start (every class score ~1e-13, as a detector
  that has collapsed has) logs rank/saturated = 1 and warns exactly once;
- the SA-SSD ranking and focal heads (3D, mmdet3d scope) log the keys too.

Tiny images (short side 64) and a tiny 3D range keep the whole file near a minute.
"""
import itertools
import json
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'configs2d' / 'demo'
RANK_CONFIG = DEMO / 'rank-retinanet_r18_fpn_demo_synthetic.py'
FOCAL_CONFIG = DEMO / 'retinanet_r18_fpn_demo_synthetic.py'
HEALTH_KEYS = ('rank/pos_score_mean', 'rank/bg_above_0.2', 'rank/saturated')
SMALL = (107, 64)  # (long, short) side limits of mmdet's Resize: tiny, for speed
_names = itertools.count()


@pytest.fixture(scope='module')
def synthetic_coco(tmp_path_factory):
    """tools/make_synthetic.py's shapes set: 4 training images of 128-160 pixels."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('make_synthetic',
                                                  ROOT / 'tools' / 'make_synthetic.py')
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path_factory.mktemp('synthetic')
    cli.main(['coco', '--out-dir', str(out), '--num-train', '4', '--num-val', '1',
              '--image-size', '128', '160', '--no-progress'])
    return out / 'coco'


@pytest.fixture
def one_thread():
    """One thread: the fastest on two shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_2d(config, data_root, work_dir, iters, log_every, monkeypatch, edit=None):
    """Train ``config`` on the synthetic set with the real Runner; its scalars.json
    records and its log text."""
    from mmengine.runner import Runner

    from apps.runner.runner_config import load_config

    monkeypatch.setenv('SYNTHETIC_COCO_ROOT', f'{data_root}/')
    cfg = load_config(str(config), work_dir=str(work_dir))
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[2].scale, pipeline[3].prob = SMALL, 0.0
    cfg.train_cfg.max_iters = iters
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = log_every
    cfg.log_processor.window_size = log_every
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                        interval=iters + 1, save_last=False)
    # in one process, runs with the config's visualiser name would share the first one
    cfg.visualizer.name = f'health-monitor-{next(_names)}'
    if edit is not None:
        edit(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return read_scalars(Path(runner.log_dir)), Path(runner.log_dir)


def read_scalars(log_dir: Path):
    with open(log_dir / 'vis_data' / 'scalars.json') as f:
        return [json.loads(line) for line in f]


def tensorboard_scalars(log_dir: Path):
    """{tag: [(step, value)]} read back from the run's TensorBoard events file."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = sorted((log_dir / 'vis_data').glob('events.out.tfevents.*'))
    assert events, f'no TensorBoard events file in {log_dir / "vis_data"}'
    accumulator = EventAccumulator(str(log_dir / 'vis_data'))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()['scalars']}


def test_ranking_demo_logs_health_to_scalars_json_and_tensorboard(
        synthetic_coco, tmp_path, monkeypatch, one_thread):
    records, log_dir = train_2d(RANK_CONFIG, synthetic_coco, tmp_path / 'rank', iters=30,
                                log_every=10, monkeypatch=monkeypatch)
    logged = {r['step']: r for r in records if 'loss' in r}
    # the logger's interval, and its end of a pass over the 4 images (iteration 2)
    assert sorted(logged) == [2, 10, 20, 30]
    for step, record in logged.items():
        for key in HEALTH_KEYS:
            assert key in record, (step, key, sorted(record))
        assert 0 < record['rank/pos_score_mean'] < 1
        assert 0 <= record['rank/bg_above_0.2'] <= 1
        assert record['rank/saturated'] in (0, 1)
    # the same values in the text log and in TensorBoard (every backend)
    log_text = next(log_dir.glob('*.log')).read_text()
    assert f"rank/pos_score_mean: {logged[30]['rank/pos_score_mean']:.4f}" in log_text
    board = tensorboard_scalars(log_dir)
    for key in HEALTH_KEYS + ('loss', 'loss_rank_global'):
        assert [step for step, _ in board[key]] == [2, 10, 20, 30], key
    assert board['rank/pos_score_mean'][-1][1] == pytest.approx(
        logged[30]['rank/pos_score_mean'], rel=1e-6)


def test_focal_baseline_logs_the_confidence_statistics(synthetic_coco, tmp_path,
                                                       monkeypatch, one_thread):
    def with_hook(cfg):
        cfg.custom_hooks = [dict(type='RankingHealthHook')]

    records, _ = train_2d(FOCAL_CONFIG, synthetic_coco, tmp_path / 'focal', iters=6,
                          log_every=3, monkeypatch=monkeypatch, edit=with_hook)
    logged = [r for r in records if 'loss' in r]
    assert [r['step'] for r in logged] == [2, 3, 6]
    for record in logged:
        assert 0 < record['rank/pos_score_mean'] < 1
        assert 0 <= record['rank/bg_above_0.2'] <= 1
        assert 'rank/saturated' not in record  # no ranking term to be flat


def test_ohem_from_a_collapsed_start_is_flagged_saturated_and_warned_once(
        synthetic_coco, tmp_path, monkeypatch, one_thread):
    def collapsed_ohem(cfg):
        head = cfg.model.bbox_head
        head.loss_cls.mining = 'ohem'
        # every class score sigmoid(-30) ~ 1e-13: the flat region of the sigmoid
        head.init_cfg.override.bias_prob = 1e-13
        cfg.custom_hooks = [dict(type='RankingHealthHook', saturation_iters=4)]

    records, log_dir = train_2d(RANK_CONFIG, synthetic_coco, tmp_path / 'ohem', iters=9,
                                log_every=3, monkeypatch=monkeypatch, edit=collapsed_ohem)
    logged = {r['step']: r for r in records if 'loss' in r}
    # not yet 4 flat iterations at steps 2 and 3; flat since then
    assert [logged[step]['rank/saturated'] for step in (2, 3, 6, 9)] == [0, 0, 1, 1]
    for record in logged.values():
        assert record['loss_rank_global'] == pytest.approx(1, abs=1e-3)
        assert record['rank/pos_score_mean'] < 1e-6
    log_text = next(log_dir.glob('*.log')).read_text()
    assert log_text.count('RankingHealthHook: the ranking losses are stuck') == 1
    warning = log_text[log_text.index('RankingHealthHook: the ranking'):]
    for words in ('flat region of the sigmoid', 'no gradient', 'warm start',
                  "score_space='logit'", "mining='group'", 'learning rate'):
        assert words in warning, words


# ----------------------------------------------------------------------------- 3D
def frames_loader(num_frames=4):
    """Tiny SA-SSD frames (tests/test_sassd_model.py's scene: ground and one car) as a
    DataLoader of the batches mmdet3d's data preprocessor takes."""
    from test_sassd_model import CAR, frame_points, sample

    frames = [frame_points(seed) for seed in range(num_frames)]

    def collate(points):
        return dict(inputs=dict(points=list(points)),
                    data_samples=[sample((CAR,)) for _ in points])

    return torch.utils.data.DataLoader(frames, batch_size=2, shuffle=False,
                                       collate_fn=collate)


@pytest.mark.parametrize('kind', ['rank', 'focal'])
def test_sassd_heads_log_the_health_scalars(kind, tmp_path, one_thread):
    pytest.importorskip('mmdet3d')
    pytest.importorskip('spconv')
    from mmengine.runner import Runner
    from test_sassd_model import FOCAL_CONFIG as FOCAL_3D
    from test_sassd_model import RANK_CONFIG as RANK_3D
    from test_sassd_model import tiny_model_cfg

    torch.manual_seed(0)
    runner = Runner(
        model=tiny_model_cfg(RANK_3D if kind == 'rank' else FOCAL_3D),
        work_dir=str(tmp_path), experiment_name=f'health3d-{kind}',
        train_dataloader=frames_loader(), train_cfg=dict(by_epoch=False, max_iters=4),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=2), checkpoint=None),
        custom_hooks=[dict(type='RankingHealthHook')],
        log_processor=dict(by_epoch=False, window_size=2),
        visualizer=dict(type='Visualizer', name=f'health-monitor-{next(_names)}',
                        vis_backends=[dict(type='LocalVisBackend')]),
        default_scope='mmdet3d')
    runner.train()
    logged = [r for r in read_scalars(Path(runner.log_dir)) if 'loss' in r]
    assert [r['step'] for r in logged] == [2, 4]
    for record in logged:
        assert 0 < record['rank/pos_score_mean'] < 1
        assert 0 <= record['rank/bg_above_0.2'] <= 1
        assert ('rank/saturated' in record) == (kind == 'rank')
