"""The 3D pair analysis (apps.pairs.analyze_pairs_3d) of the SA-SSD CPU demo.

A random-weight model is saved as a checkpoint and analysed on three val frames: of a
small synthetic KITTI set made here (4 to 8 cars a frame: many positives and P-P
pairs), and of the real KITTI sample (real scans, but one car inside the demo's range).
What the analysis fed to PairStatistics is checked against references computed apart
from it: the labels against the head's assigner run on the anchors, the IoUs against
rankdet.ops.iou3d of the box decoded from the network's own output and the assigned
ground-truth box, the ratios against a double loop over all pairs, the Spearman
correlation against scipy. The ranking loss's use of the shared target code
(PSWarpHead.anchor_samples / positive_ious) is checked by tests/test_sassd_model.py.

About 15 s on two cores.
"""
import json
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet3d')
pytest.importorskip('spconv')

import rankdet.registration  # noqa: E402,F401  applies the spconv CPU fix
import rankdet.models.sassd  # noqa: E402,F401  registers the SA-SSD modules
from rankdet.analysis import PairStatistics  # noqa: E402
from apps.pairs.analyze_pairs_3d import (  # noqa: E402
    analyze_pairs_3d, annotated_pipeline_3d)
from test_pair_analysis import assert_ratios_equal, brute_force_ratios  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / 'configs3d'
FOCAL_CONFIG = CONFIGS / 'sassd_pswarp_cpu-demo_synthetic-3d-car.py'
RANK_CONFIG = CONFIGS / 'rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py'
NUM_FRAMES = 3  # val frames analysed (the real sample has 4)
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


@pytest.fixture
def one_thread():
    """One thread: the fastest on shared cores, and the model run again by the test
    sums in the same order as in the analysis."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    """Three synthetic val frames with 4 to 8 cars each inside the demo's range."""
    from data_converters.kitti_converter import kitti_data_prep
    from data_converters.synthetic import KittiSceneConfig, LidarModel, generate_kitti

    raw = generate_kitti(
        tmp_path_factory.mktemp('synthetic') / 'kitti',
        KittiSceneConfig(num_train=1, num_val=NUM_FRAMES, num_test=0, seed=3, min_cars=4,
                         max_cars=8, max_distance=30.0,
                         lidar=LidarModel(num_beams=32, azimuth_resolution_deg=0.8)),
        progress=False)
    root = tmp_path_factory.mktemp('synthetic_infos')
    kitti_data_prep(raw, out_dir=root, with_gt_database=False, progress=False)
    return root


@pytest.fixture(scope='module')
def kitti_sample_infos(kitti_sample_root, tmp_path_factory):
    """The real KITTI sample's infos; of its val frames only one has a car inside the
    demo's range: a check of real scans, not of many pairs."""
    from data_converters.kitti_converter import kitti_data_prep

    root = tmp_path_factory.mktemp('kitti_sample')
    kitti_data_prep(kitti_sample_root, out_dir=root, with_gt_database=False, progress=False)
    return root


def analysis_config(config, data_root):
    from apps.runner.kitti_data_root import with_data_root
    from apps.runner.runner_config import load_config

    cfg = load_config(str(config))
    with_data_root(cfg, data_root)
    # looser thresholds than training: more positives per car (P-P pairs) and ignored
    # anchors between the two thresholds
    cfg.model.train_cfg.assigner.update(pos_iou_thr=0.35, neg_iou_thr=0.25, min_pos_iou=0.25)
    return cfg


def random_checkpoint(cfg, path, seed=0):
    """Random weights whose scores and boxes differ from anchor to anchor.

    Fresh batch norms (mean 0, variance 1) shrink the BEV features to ~1e-6 and every
    anchor would score the prior's logit; their statistics are taken from a frame
    instead, as a short training run would.
    """
    from mmdet3d.registry import MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet3d')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.momentum = None  # running statistics: the average over the batches seen
    model.train()
    data = model.data_preprocessor(pseudo_collate(plain_frames(cfg, 1)), True)
    with torch.no_grad():
        model.extract_feat(data['inputs'], test_mode=True)
        model.bbox_head.conv_cls.weight.normal_(0, 0.01)
        model.bbox_head.conv_reg.weight.normal_(0, 0.003)
    model.eval()
    torch.save(dict(state_dict=model.state_dict()), path)
    return model


def record_updates(monkeypatch):
    """The (logits, labels, ious) of every PairStatistics.update call."""
    calls = []
    original = PairStatistics.update

    def update(self, logits, labels, ious):
        calls.append((logits.clone(), labels.clone(), ious.clone()))
        return original(self, logits, labels, ious)

    monkeypatch.setattr(PairStatistics, 'update', update)
    return calls


def plain_frames(cfg, num_frames):
    """The val frames with ground truth, through a pipeline written out here."""
    from mmdet3d.registry import DATASETS
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet3d')
    dataset_cfg = cfg.test_dataloader.dataset.copy()
    point_range = cfg.point_cloud_range
    dataset_cfg.update(test_mode=False, filter_empty_gt=False, pipeline=[
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        dict(type='PointsRangeFilter', point_cloud_range=point_range),
        dict(type='ObjectRangeFilter', point_cloud_range=point_range),
        dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])])
    dataset = DATASETS.build(dataset_cfg)
    return [dataset[i] for i in range(num_frames)]


def direct_samples(model, frame):
    """Labels and positive IoUs of one frame, straight from the network's maps, the
    head's assigner and rankdet.ops.iou3d."""
    from mmengine.dataset import pseudo_collate
    from mmengine.structures import InstanceData

    from rankdet.ops import iou3d

    head = model.bbox_head
    data = model.data_preprocessor(pseudo_collate([frame]), False)
    with torch.no_grad():
        cls_score, bbox_pred, _ = (out[0] for out in head(model.extract_feat(data['inputs'])))
    height, width = cls_score.shape[-2:]
    logits = cls_score[0].permute(1, 2, 0).reshape(-1, head.num_classes)    # [A, C]
    deltas = bbox_pred[0].permute(1, 2, 0).reshape(-1, 7)                   # [A, 7]
    anchors = head.prior_generator.grid_anchors([(height, width)], device='cpu')[0]
    anchors = anchors.reshape(-1, 7)                                        # [A, 7]
    gt = frame['data_samples'].gt_instances_3d
    gt_boxes, gt_labels = gt.bboxes_3d.tensor, gt.labels_3d
    labels = torch.full((len(anchors),), head.num_classes, dtype=torch.long)
    ious = torch.zeros(len(anchors))
    if len(gt_boxes):
        assigned = head.bbox_assigner.assign(
            InstanceData(priors=anchors),
            InstanceData(bboxes_3d=gt_boxes, labels_3d=gt_labels)).gt_inds  # 1-based
        labels[assigned == -1] = -1
        positive = assigned > 0
        labels[positive] = gt_labels[assigned[positive] - 1]
        assert deltas[positive, 3:6].max() < 4  # sizes below the head's cap
        predicted = head.bbox_coder.decode(anchors[positive], deltas[positive])
        ious[positive] = iou3d(predicted, gt_boxes[assigned[positive] - 1], aligned=True)
    return logits, labels, ious


@pytest.mark.parametrize('config, data, seed, min_positives', [
    (FOCAL_CONFIG, 'synthetic_root', 0, 50), (RANK_CONFIG, 'synthetic_root', 1, 50),
    (RANK_CONFIG, 'kitti_sample_infos', 2, 5)], ids=['focal', 'rank', 'rank-real-sample'])
def test_analysis_matches_direct_computation(config, data, seed, min_positives, request,
                                             tmp_path, monkeypatch, one_thread):
    from scipy.stats import spearmanr

    cfg = analysis_config(config, request.getfixturevalue(data))
    model = random_checkpoint(cfg, tmp_path / 'random.pth', seed)
    calls = record_updates(monkeypatch)
    result = analyze_pairs_3d(cfg, str(tmp_path / 'random.pth'), tmp_path / 'out',
                              max_frames=NUM_FRAMES, progress=False)
    assert len(calls) == NUM_FRAMES  # batch size 1
    logits, labels, ious = (torch.cat(parts) for parts in zip(*calls))

    # what was fed is what the network, the assigner and iou3d give directly
    for (got_logits, got_labels, got_ious), frame in zip(
            calls, plain_frames(cfg, NUM_FRAMES)):
        expected_logits, expected_labels, expected_ious = direct_samples(model, frame)
        torch.testing.assert_close(got_logits[0], expected_logits, rtol=0, atol=1e-6)
        assert torch.equal(got_labels[0], expected_labels)
        torch.testing.assert_close(got_ious[0], expected_ious, rtol=0, atol=1e-5)

    positive = (labels >= 0) & (labels < 1)
    assert positive.sum() >= min_positives and (labels == -1).any()  # it can fail
    pos_ious = ious[positive]
    assert 0 < pos_ious.max() < 1 and pos_ious.unique().numel() > len(pos_ious) // 2

    assert result['num_images'] == NUM_FRAMES and result['class_name'] == 'Car'
    assert result['num_positives'] == positive.sum()
    expected = brute_force_ratios(logits, labels, ious, num_classes=1)
    assert not math.isnan(expected['P-P'])  # the frames have P-P pairs
    assert_ratios_equal(result['ratios'], expected)
    # one class: its negatives are the background, P-N counts F-B's pairs
    assert result['ratios']['P-N'] == result['ratios']['F-B']
    scores = logits[..., 0].sigmoid()[positive]
    assert result['spearman'] == pytest.approx(
        spearmanr(pos_ious.numpy(), scores.numpy()).statistic, abs=1e-12)

    def strict(token):
        raise AssertionError(f'{token} is not JSON')

    saved = json.loads(result['ratios_file'].read_text(), parse_constant=strict)
    assert saved['ratios'] == pytest.approx(result['ratios'])
    assert saved['spearman'] == pytest.approx(result['spearman'])
    assert saved['num_positives'] == result['num_positives']
    assert saved['checkpoint'] == str(tmp_path / 'random.pth')
    assert sorted(p.name for p in result['figures'].values()) == [
        'fg_bg_scores.png', 'iou_vs_score_Car.png', 'pos_neg_scores_Car.png']
    for path in result['figures'].values():
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert path.parent == tmp_path / 'out'


def test_clear_errors(synthetic_root, tmp_path):
    cfg = analysis_config(RANK_CONFIG, synthetic_root)
    with pytest.raises(FileNotFoundError, match='missing.pth does not exist'):
        analyze_pairs_3d(cfg, str(tmp_path / 'missing.pth'), tmp_path)
    checkpoint = tmp_path / 'weights.pth'
    checkpoint.write_bytes(b'')  # never read: the head is checked first
    with pytest.raises(ValueError, match='max_frames must be at least 1, got 0'):
        analyze_pairs_3d(cfg, str(checkpoint), tmp_path, max_frames=0)
    head = cfg.model.bbox_head
    head.type = 'Anchor3DHead'  # SA-SSD without PSWarp: no warped confidence to analyse
    head.pop('part_grid')
    head.loss_cls = dict(type='mmdet.FocalLoss', use_sigmoid=True)
    with pytest.raises(TypeError, match=r"model.bbox_head is Anchor3DHead "
                                        r"\(type='Anchor3DHead'\)"):
        analyze_pairs_3d(cfg, str(checkpoint), tmp_path)


def test_annotated_pipeline_keeps_ground_truth_as_training():
    point_range = [0, -20, -3, 35.2, 20, 1]
    test_pipeline = [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
        dict(type='PointsRangeFilter', point_cloud_range=point_range),
        dict(type='Pack3DDetInputs', keys=['points'])]
    steps = annotated_pipeline_3d(test_pipeline)
    assert steps == [
        test_pipeline[0],
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        test_pipeline[1],
        dict(type='ObjectRangeFilter', point_cloud_range=point_range),
        dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])]
    assert test_pipeline[2]['keys'] == ['points']  # the config is left alone
    assert annotated_pipeline_3d(steps) == steps  # nothing added twice
    with pytest.raises(ValueError, match='without MultiScaleFlipAug3D'):
        annotated_pipeline_3d([test_pipeline[0], dict(type='MultiScaleFlipAug3D'),
                               test_pipeline[2]])
    with pytest.raises(ValueError, match='loads points'):
        annotated_pipeline_3d(test_pipeline[1:])
    with pytest.raises(ValueError, match='ends with Pack3DDetInputs'):
        annotated_pipeline_3d(test_pipeline[:2])


def test_command_line_tool_analyses_sassd(synthetic_root, tmp_path, one_thread, capsys):
    """tools/analyze_pairs.py takes an SA-SSD config to the 3D analysis and prints what
    the function returns."""
    import importlib.util

    config = FOCAL_CONFIG
    cfg = analysis_config(config, synthetic_root)
    checkpoint = tmp_path / 'random.pth'
    random_checkpoint(cfg, checkpoint)
    spec = importlib.util.spec_from_file_location('analyze_pairs_tool',
                                                  CONFIGS.parent / 'tools' / 'analyze_pairs.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    options = [f'{key}={value}' for key, value in cfg.model.train_cfg.assigner.items()
               if key in ('pos_iou_thr', 'neg_iou_thr', 'min_pos_iou')]
    result = tool.main([str(config), str(checkpoint), '--out-dir', str(tmp_path / 'out'),
                        '--no-progress', '--cfg-options',
                        f'test_dataloader.dataset.data_root={synthetic_root}/',
                        *[f'model.train_cfg.assigner.{o}' for o in options]])
    assert result['class_name'] == 'Car' and result['num_positives'] > 0
    printed = capsys.readouterr().out
    assert f"positives: {result['spearman']:.3f}" in printed
    assert f"{result['ratios']['F-B']:8.3f}" in printed
    assert (tmp_path / 'out' / 'pair_ratios.json').is_file()
