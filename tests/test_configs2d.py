"""Every config of configs2d/ builds (model, datasets with their pipelines) and says what
its name says: backbone, schedule, loss, warm start, test-time soft-NMS, Table 4 switches.

Real-COCO datasets are built with ``lazy_init`` (no annotation file needed; pipelines
are still built); the demo datasets are loaded for real, from coco128 and from a small
synthetic set written by rankdet's generator.
"""
import copy
import re
from pathlib import Path

import pytest

pytest.importorskip('mmdet')

import rankdet.registration  # noqa: E402,F401
from mmdet.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402

register_all_modules(init_default_scope=True)
DEFAULT_SCOPE = 'mmdet'  # every test builds in mmdet's scope (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / 'configs2d'
CONFIGS = sorted(p.relative_to(CONFIG_DIR).as_posix() for p in CONFIG_DIR.rglob('*.py')
                 if '_base_' not in p.parts)
REAL = [c for c in CONFIGS if not c.startswith('demo/')]
DEMO = [c for c in CONFIGS if c.startswith('demo/')]

# Table 4 of the paper: the RankingLoss arguments of each ablation row (Exp. 10 is the
# main config, all defaults; rank-retinanet-group holds it too); iou_bp as docs/method.md
# section 5 maps it (tests/test_ablation_configs.py pins every switch of every row).
ABLATION = {
    'rank-retinanet-global-ohem': dict(use_class=False, use_iou=False, mining='ohem'),
    'rank-retinanet-class-ohem': dict(use_global=False, use_iou=False, mining='ohem'),
    'rank-retinanet-global-class-ohem': dict(use_iou=False, mining='ohem'),
    'rank-retinanet-focal-iou': dict(use_global=False, use_class=False),
    'rank-retinanet-merge-levels-iou-bp-none-ohem': dict(iou_levels='merge', iou_bp='none',
                                                         mining='ohem'),
    'rank-retinanet-iou-bp-both-ohem': dict(iou_bp='both', mining='ohem'),
    'rank-retinanet-no-reweight-ohem': dict(dynamic_reweight=False, mining='ohem'),
    'rank-retinanet-iou-bp-none-ohem': dict(iou_bp='none', mining='ohem'),
    'rank-retinanet-ohem': dict(mining='ohem'),
    'rank-retinanet-group': dict(mining='group'),
}


def load(name):
    return Config.fromfile(str(CONFIG_DIR / name))


def test_the_expected_configs_exist():
    names = {Path(c).stem for c in CONFIGS}
    for model in ('retinanet_r50', 'retinanet_r101', 'retinanet_x101-64x4d', 'atss_r50',
                  'atss_r50-dconv-c3-c5', 'atss_x101-64x4d-dconv-c3-c5'):
        assert f'{model}_fpn_1x_coco' in names
        assert f'rank-{model}_fpn_1x_coco' in names
    assert {f'{row}_r50_fpn_1x_coco' for row in ABLATION} <= names
    for detector in ('retinanet', 'atss'):
        for data in ('coco128', 'synthetic'):
            assert {f'{detector}_r18_fpn_demo_{data}',
                    f'rank-{detector}_r18_fpn_demo_{data}'} <= names


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_model_and_pipelines(name):
    cfg = load(name)
    assert cfg.custom_imports == dict(imports=['rankdet.registration'],
                                      allow_failed_imports=False)
    model = MODELS.build(copy.deepcopy(cfg.model))
    head = model.bbox_head
    if Path(name).stem.startswith('rank-'):
        assert type(head).__name__ in ('RankRetinaHead', 'RankATSSHead')
        assert type(head.loss_rank).__name__ == 'RankingLoss'
    else:
        assert type(head.loss_cls).__name__ == 'FocalLoss'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset_cfg = copy.deepcopy(cfg[key].dataset)
        dataset_cfg.lazy_init = True  # pipelines build, annotations are not read
        dataset = DATASETS.build(dataset_cfg)
        assert len(dataset.pipeline.transforms) == len(dataset_cfg.pipeline)
        assert type(dataset).__name__ == 'CheckedCocoDataset'


@pytest.mark.parametrize('name', CONFIGS)
def test_name_matches_settings(name):
    """Every number and word of the file name is a setting the file holds."""
    cfg = load(name)
    stem = Path(name).stem
    algorithm, backbone = stem.split('_')[:2]
    head = cfg.model.bbox_head
    detector = 'atss' if 'atss' in algorithm else 'retinanet'
    assert cfg.model.type == {'atss': 'ATSS', 'retinanet': 'RetinaNet'}[detector]
    expected_head = {'atss': 'ATSSHead', 'retinanet': 'RetinaHead'}[detector]
    if algorithm.startswith('rank-'):
        expected_head = 'Rank' + expected_head
        assert head.loss_cls.type == 'RankingLoss'
        assert set(head.loss_cls) <= {'type', *ABLATION.get(algorithm, {})}
        for key, value in ABLATION.get(algorithm, {}).items():
            assert head.loss_cls[key] == value, (key, head.loss_cls)
        if algorithm == 'rank-retinanet-focal-iou':
            assert head.loss_pointwise.type == 'FocalLoss'
    else:
        assert head.loss_cls.type == 'FocalLoss'
    assert head.type == expected_head

    match = re.fullmatch(r'(r|x)(\d+)(?:-(\d+)x(\d+)d)?(-dconv-c3-c5)?(?:-w(\d+))?',
                         backbone)
    assert match, backbone
    kind, depth, groups, width, dconv, channels = match.groups()
    assert cfg.model.backbone.depth == int(depth)
    assert cfg.model.backbone.get('base_channels', 64) == int(channels or 64)
    assert cfg.model.backbone.type == ('ResNeXt' if kind == 'x' else 'ResNet')
    if kind == 'x':
        assert (cfg.model.backbone.groups, cfg.model.backbone.base_width) == \
            (int(groups), int(width))
    if dconv:
        assert cfg.model.backbone.dcn.type == 'DCN'
        assert tuple(cfg.model.backbone.stage_with_dcn) == (False, True, True, True)
    else:
        assert cfg.model.backbone.get('dcn') is None

    nms = cfg.model.test_cfg.nms
    assert (nms.type, nms.iou_threshold) == ('soft_nms', 0.6)
    evidence = name.startswith('evidence/')  # tools/compare.py scores every box
    assert cfg.model.test_cfg.score_thr == (0.0 if evidence else 0.05)

    if stem.endswith('_fpn_1x_coco'):  # the paper's schedule, COCO 2017, ImageNet weights
        assert cfg.train_cfg.max_epochs == 12
        assert cfg.param_scheduler[-1].milestones == [8, 11]
        assert cfg.optim_wrapper.optimizer.lr == 0.01
        assert cfg.train_dataloader.batch_size * 8 == 16 == cfg.auto_scale_lr.base_batch_size
        assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'
        assert cfg.val_dataloader.dataset.ann_file == 'annotations/instances_val2017.json'
        assert cfg.model.backbone.init_cfg.type == 'Pretrained'
        assert cfg.model.test_cfg.nms_pre == 1000
        if algorithm.startswith('rank-'):  # warm start from the matching focal baseline
            baseline = f'{detector}_{backbone}_fpn_1x_coco'
            assert cfg.load_from == f'work_dirs/{baseline}/epoch_12.pth'
            assert (CONFIG_DIR / detector / f'{baseline}.py').is_file()
        else:
            assert cfg.load_from is None
    elif evidence:
        match = re.fullmatch(r'(rank-)?retinanet_r18-w32_fpn_(coco128|synthetic)-(\d+)', stem)
        assert match, stem
        _, dataset, short_side = match.groups()
        assert cfg.model.backbone.init_cfg is None
        assert cfg.load_from is None  # tools/compare.py sets the warm start
        for loader in ('train_dataloader', 'test_dataloader'):
            resize = [t for t in cfg[loader].dataset.pipeline if t.type == 'Resize']
            assert [min(t.scale) for t in resize] == [int(short_side)]
        assert head.num_classes == (80 if dataset == 'coco128' else 5)
    else:
        assert re.fullmatch(r'(rank-)?(retinanet|atss)_r18_fpn_demo_(coco128|synthetic)',
                            stem)
        assert cfg.model.backbone.init_cfg is None  # random weights, nothing to download
        assert cfg.load_from is None
        dataset = stem.rsplit('_', 1)[1]
        assert cfg.train_dataloader.dataset.data_root.rstrip('/').endswith(
            'coco128' if dataset == 'coco128' else 'synthetic/coco')
        assert head.num_classes == (80 if dataset == 'coco128' else 5)


@pytest.mark.parametrize('name', [c for c in DEMO if c.endswith('coco128.py')])
def test_coco128_demo_data_loads(name, coco128_root, monkeypatch):
    monkeypatch.setenv('COCO128_ROOT', f'{coco128_root}/')
    cfg = load(name)
    for key in ('train_dataloader', 'test_dataloader'):
        dataset = DATASETS.build(copy.deepcopy(cfg[key].dataset))
        assert len(dataset) == 128  # the two images without objects are kept
        sample = dataset[0]
        assert max(sample['inputs'].shape[1:]) <= 533 and min(sample['inputs'].shape[1:]) <= 320
    METRICS.build(copy.deepcopy(cfg.test_evaluator))


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    from data_converters.synthetic import CocoShapesConfig, generate_coco
    root = tmp_path_factory.mktemp('synthetic') / 'coco'
    generate_coco(root, CocoShapesConfig(num_train=2, num_val=2), progress=False)
    return root


@pytest.mark.parametrize('name', [c for c in DEMO if c.endswith('synthetic.py')])
def test_synthetic_demo_data_loads(name, synthetic_root, monkeypatch):
    monkeypatch.setenv('SYNTHETIC_COCO_ROOT', f'{synthetic_root}/')
    cfg = load(name)
    for key in ('train_dataloader', 'test_dataloader'):
        dataset = DATASETS.build(copy.deepcopy(cfg[key].dataset))
        assert len(dataset) == 2
        assert dataset.metainfo['classes'] == ('circle', 'square', 'triangle', 'star',
                                               'ellipse')
        sample = dataset[0]
        assert min(sample['inputs'].shape[1:]) == 320 or max(sample['inputs'].shape[1:]) == 533
    METRICS.build(copy.deepcopy(cfg.test_evaluator))


def test_data_root_follows_the_environment(monkeypatch):
    monkeypatch.setenv('COCO_ROOT', '/data/my-coco/')
    cfg = load('retinanet/rank-retinanet_r50_fpn_1x_coco.py')
    assert cfg.train_dataloader.dataset.data_root == '/data/my-coco/'
    assert cfg.val_evaluator.ann_file == '/data/my-coco/annotations/instances_val2017.json'
    monkeypatch.delenv('COCO_ROOT')
    assert load('retinanet/rank-retinanet_r50_fpn_1x_coco.py') \
        .train_dataloader.dataset.data_root == 'data/coco/'
