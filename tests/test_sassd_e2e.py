"""End to end on the CPU: the real KITTI sample converted, the ranking SA-SSD demo
trained for a few iterations with the real Runner (checkpoint, resume), tested with
tools/test.py to KITTI metrics, and its detections drawn with tools/vis3d.py.

About two minutes on two cores, most of it numba compiling mmdet3d's augmentations.
"""
import importlib.util
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet3d')
pytest.importorskip('spconv')

import rankdet.registration  # noqa: E402,F401  registers RankKittiMetric and the models
import rankdet.models.sassd  # noqa: E402,F401  registers the SA-SSD modules

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs3d' / 'rank-sassd_pswarp_cpu-demo_kitti-sample-3d-car.py'
TOTAL_ITERS, STOP_AT = 4, 2
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f'rankdet_e2e_{name}',
                                                  REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    """One thread: the fastest on shared cores, and the order of floating-point sums
    (spconv's scatter race itself is fixed by rankdet.compat) stays fixed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def demo_config(data_root, work_dir, max_iters):
    from apps.runner.fit_schedule import fit_schedule
    from apps.runner.kitti_data_root import with_data_root
    from apps.runner.runner_config import load_config

    cfg = load_config(str(CONFIG), work_dir=str(work_dir))
    with_data_root(cfg, data_root)
    fit_schedule(cfg, TOTAL_ITERS)
    cfg.train_cfg.max_iters = max_iters  # stop early: a run to resume
    cfg.default_hooks.checkpoint.interval = STOP_AT
    cfg.default_hooks.logger.interval = 1
    cfg.train_dataloader.batch_size = 1
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None  # tested by tools/test.py
    cfg.randomness = dict(seed=0)
    return cfg


def fixed_batch_loss(cfg, checkpoint):
    """The training loss of the train frames without augmentation, for a checkpoint."""
    from mmdet3d.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import load_checkpoint

    dataset_cfg = cfg.train_dataloader.dataset.copy()
    keep = ('LoadPointsFromFile', 'LoadAnnotations3D', 'PointsRangeFilter',
            'ObjectRangeFilter', 'Pack3DDetInputs')
    dataset_cfg.pipeline = [t for t in dataset_cfg.pipeline if t['type'] in keep]
    dataset = DATASETS.build(dataset_cfg)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(checkpoint), map_location='cpu')
    batch = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(len(dataset))]),
                                    True)
    with torch.no_grad():
        losses = model(**batch, mode='loss')
    return float(sum(v if torch.is_tensor(v) else sum(v) for k, v in losses.items()
                     if 'loss' in k))


def test_rank_sassd_demo_trains_resumes_tests_and_draws(kitti_sample_root, tmp_path,
                                                        one_thread):
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from data_converters.kitti_converter import kitti_data_prep

    init_default_scope('mmdet3d')
    data_root, work_dir = tmp_path / 'kitti_sample', tmp_path / 'work'
    kitti_data_prep(kitti_sample_root, out_dir=data_root, progress=False)

    # start from saved initial weights, so that the loss can be compared with them
    cfg = demo_config(data_root, work_dir, STOP_AT)
    torch.manual_seed(0)
    initial = MODELS.build(cfg.model)
    initial.init_weights()
    work_dir.mkdir()
    torch.save(dict(state_dict=initial.state_dict()), work_dir / 'initial.pth')
    cfg.load_from = str(work_dir / 'initial.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == STOP_AT and (work_dir / f'iter_{STOP_AT}.pth').is_file()

    cfg = demo_config(data_root, work_dir, TOTAL_ITERS)
    cfg.resume, cfg.load_from = True, str(work_dir / f'iter_{STOP_AT}.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == TOTAL_ITERS
    final = work_dir / f'iter_{TOTAL_ITERS}.pth'
    assert final.is_file()
    # the resumed run trained iterations STOP_AT+1..TOTAL_ITERS, not from the start
    log = sorted(work_dir.glob('*/*.log'))[-1].read_text()
    assert f'Iter(train) [{STOP_AT + 1}/{TOTAL_ITERS}]' in log
    assert 'Iter(train) [1/' not in log

    before = fixed_batch_loss(cfg, work_dir / 'initial.pth')
    after = fixed_batch_loss(cfg, final)
    print(f'loss on the train frames: {before:.4f} before, {after:.4f} after training')
    assert after < before

    results = tmp_path / 'results.pkl'
    metrics = load_tool('test').main([
        str(CONFIG), str(final), '--work-dir', str(tmp_path / 'test'), '--out', str(results),
        '--cfg-options', f'test_dataloader.dataset.data_root={data_root}/',
        f'test_evaluator.ann_file={data_root}/kitti_infos_val.pkl'])
    key = 'Kitti metric/pred_instances_3d/KITTI/Car_3D_AP40_moderate_strict'
    assert key in metrics and 0.0 <= metrics[key] <= 100.0
    assert results.is_file()

    bev, view = tmp_path / '000001_bev.png', tmp_path / '000001_3d.png'
    load_tool('vis3d').main([
        '--kitti-root', str(kitti_sample_root), '--index', '000001', '--fov-only',
        '--results', str(results), '--score-thr', '0', '--bev-out', str(bev),
        '--out', str(view)])
    for png in (bev, view):
        assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 10_000


def test_with_data_root_moves_every_data_path():
    from apps.runner.kitti_data_root import with_data_root
    from apps.runner.runner_config import load_config

    cfg = load_config(str(CONFIG))
    old = cfg.data_root
    with_data_root(cfg, '/elsewhere/kitti')
    text = cfg.pretty_text
    assert old not in text
    sampler = cfg.train_dataloader.dataset.pipeline[2].db_sampler
    assert sampler.info_path == '/elsewhere/kitti/kitti_dbinfos_train.pkl'
    assert sampler.data_root == cfg.train_dataloader.dataset.data_root == '/elsewhere/kitti/'
    assert cfg.test_evaluator.ann_file == '/elsewhere/kitti/kitti_infos_val.pkl'


@pytest.mark.parametrize('iters, warmup', [(4, 0), (12, 2), (100, 10), (500, 10)])
def test_fit_schedule_stretches_warmup_and_decay(iters, warmup):
    from apps.runner.fit_schedule import fit_schedule
    from apps.runner.runner_config import load_config

    cfg = load_config(str(CONFIG))
    fit_schedule(cfg, iters)
    assert cfg.train_cfg.max_iters == cfg.default_hooks.checkpoint.interval == iters
    kinds = [s['type'] for s in cfg.param_scheduler]
    assert kinds == (['LinearLR', 'CosineAnnealingLR'] if warmup else ['CosineAnnealingLR'])
    cosine = cfg.param_scheduler[-1]
    assert (cosine['begin'], cosine['end'], cosine['T_max']) == (warmup, iters, iters - warmup)
    if warmup:
        assert cfg.param_scheduler[0]['end'] == warmup
