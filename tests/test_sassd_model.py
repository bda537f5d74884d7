"""SA-SSD on mmdet3d (rankdet.models.sassd): point operators, PSWarp, the sparse encoder's
auxiliary network, and the focal and ranking detectors on a tiny range.

References: shapely polygons for points in boxes, a brute-force 3-NN over all sources,
a hand-written bilinear read for PSWarp, the anchors' own centres for its pixel
convention. The models are the CPU demo configs shrunk to a 6.4 m x 6.4 m range (an
8 x 8 BEV map) so that each test runs in seconds.
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')
pytest.importorskip('spconv')

import rankdet.registration  # noqa: E402,F401  applies the spconv CPU fix
import rankdet.models.sassd  # noqa: E402,F401  registers the SA-SSD modules
from rankdet.models.sassd import point_ops  # noqa: E402
from rankdet.models.sassd.point_ops import three_nn_interpolate  # noqa: E402
from rankdet.ops.points_in_boxes import points_in_boxes  # noqa: E402
from rankdet.models.sassd.pswarp import part_centres, part_sensitive_warp  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / 'configs3d'
FOCAL_CONFIG = CONFIGS / 'sassd_pswarp_cpu-demo_synthetic-3d-car.py'
RANK_CONFIG = CONFIGS / 'rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py'
DEFAULT_SCOPE = 'mmdet3d'  # every model here is built in mmdet3d's scope (conftest.py)
SEEDS = (0, 1, 2)

# the tiny range: 64 x 64 x 41 voxels of 0.1 m, an 8 x 8 BEV map, anchors every 6.4/7 m
TINY_RANGE = [0, -3.2, -3, 6.4, 3.2, 1]
ANCHOR_PITCH = 6.4 / 7
# a car exactly on the anchor of pixel (x=3, y=4): IoU 1 there, 0.62 at its x neighbours
CAR = [3 * ANCHOR_PITCH, -3.2 + 4 * ANCHOR_PITCH, -1.78, 3.9, 1.6, 1.56, 0.0]


# ----------------------------------------------------------------------------- helpers
def brute_force_interpolate(tgt, tgt_batch, src, src_batch, feats, k=3, eps=1e-8):
    """SA-SSD's 3-NN interpolation written out: every target against every source of its
    frame, distances sorted, inverse-distance weights."""
    rows = []
    for p, b in zip(tgt, tgt_batch.tolist()):
        same = (src_batch == b).nonzero(as_tuple=True)[0]
        if same.numel() == 0:
            rows.append(feats.new_zeros(feats.shape[1]))
            continue
        d = ((src[same] - p) ** 2).sum(1).sqrt()
        d, order = d.sort()
        d, near = d[:k], same[order[:k]]
        w = 1 / (d + eps)
        rows.append((w[:, None] * feats[near]).sum(0) / w.sum())
    return torch.stack(rows)


def bilinear_read(image, px, py):
    """Bilinear value of ``image[H, W]`` at pixel coordinates (px, py), border clamped."""
    height, width = image.shape
    px = min(max(px, 0.0), width - 1.0)
    py = min(max(py, 0.0), height - 1.0)
    x0, y0 = int(math.floor(px)), int(math.floor(py))
    x1, y1 = min(x0 + 1, width - 1), min(y0 + 1, height - 1)
    ax, ay = px - x0, py - y0
    return ((1 - ax) * (1 - ay) * image[y0, x0] + ax * (1 - ay) * image[y0, x1]
            + (1 - ax) * ay * image[y1, x0] + ax * ay * image[y1, x1])


def tiny_model_cfg(config):
    from apps.runner.runner_config import load_config

    model = load_config(str(config)).model
    model.data_preprocessor.voxel_layer.point_cloud_range = TINY_RANGE
    model.middle_encoder.point_cloud_range = TINY_RANGE
    model.middle_encoder.sparse_shape = [41, 64, 64]
    model.bbox_head.anchor_generator.ranges = [[0, -3.2, -1.78, 6.4, 3.2, -1.78]]
    model.test_cfg.score_thr = 0.0  # keep every box: outputs to compare
    return model


def build_model(config, seed=0):
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet3d')
    torch.manual_seed(seed)
    model = MODELS.build(tiny_model_cfg(config))
    model.init_weights()
    return model


def frame_points(seed, cars=(CAR,), ground=True, offset=(0.0, 0.0)):
    """A small scene: ground returns and points filling each car box."""
    g = torch.Generator().manual_seed(seed)
    parts = []
    if ground:
        xy = torch.rand(300, 2, generator=g) * torch.tensor([6.4, 6.4]) + torch.tensor(
            [0.0, -3.2])
        parts.append(torch.cat([xy, torch.full((300, 1), -1.73), torch.rand(300, 1,
                                                                            generator=g)], 1))
    for car in cars:
        x, y, z, dx, dy, dz, yaw = car
        local = (torch.rand(400, 3, generator=g) - 0.5) * torch.tensor([dx, dy, dz])
        c, s = math.cos(yaw), math.sin(yaw)
        pts = torch.stack([x + c * local[:, 0] - s * local[:, 1],
                           y + s * local[:, 0] + c * local[:, 1],
                           z + dz / 2 + local[:, 2], torch.rand(400, generator=g)], 1)
        parts.append(pts)
    points = torch.cat(parts) if parts else torch.zeros(0, 4)
    return points + torch.tensor([offset[0], offset[1], 0.0, 0.0])


def sample(boxes=(CAR,)):
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData

    data_sample = Det3DDataSample(metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
    gt = InstanceData()
    gt.bboxes_3d = LiDARInstance3DBoxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 7))
    gt.labels_3d = torch.zeros(len(boxes), dtype=torch.long)
    data_sample.gt_instances_3d = gt
    return data_sample


def run(model, frames, mode):
    """The model on ``frames`` = [(points, boxes), ...] through its data preprocessor."""
    batch = dict(inputs=dict(points=[p for p, _ in frames]),
                 data_samples=[sample(b) for _, b in frames])
    data = model.data_preprocessor(batch, mode == 'loss')
    return model(**data, mode=mode)


def total(losses):
    return sum(v if torch.is_tensor(v) else sum(v) for k, v in losses.items() if 'loss' in k)


@pytest.fixture
def one_thread():
    """Tests comparing two models number by number run the sparse convolutions on one
    thread, so both see the same order of floating-point sums (spconv's scatter race
    with several threads is fixed by rankdet.compat.spconv_cpu)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- point ops
@pytest.mark.parametrize('seed', SEEDS)
def test_points_in_boxes_matches_shapely(seed):
    from shapely.geometry import Point, Polygon

    g = torch.Generator().manual_seed(seed)
    boxes = torch.rand(6, 7, generator=g, dtype=torch.float64)
    boxes[:, :2] = boxes[:, :2] * 8 - 4
    boxes[:, 2] = boxes[:, 2] - 1
    boxes[:, 3:6] = boxes[:, 3:6] * 3 + 0.5
    boxes[:, 6] = (boxes[:, 6] * 2 - 1) * math.pi
    points = torch.rand(500, 3, generator=g, dtype=torch.float64) * torch.tensor(
        [10.0, 10.0, 4.0]) - torch.tensor([5.0, 5.0, 2.0])
    inside = points_in_boxes(points, boxes)
    assert inside.shape == (500, 6) and inside.any()
    for t, (x, y, z, dx, dy, dz, yaw) in enumerate(boxes.tolist()):
        c, s = math.cos(yaw), math.sin(yaw)
        corners = [(x + c * u - s * v, y + s * u + c * v) for u, v in
                   [(dx / 2, dy / 2), (-dx / 2, dy / 2), (-dx / 2, -dy / 2), (dx / 2, -dy / 2)]]
        polygon = Polygon(corners)
        expected = [polygon.contains(Point(px, py)) and z < pz < z + dz
                    for px, py, pz in points.tolist()]
        assert inside[:, t].tolist() == expected


def test_points_in_boxes_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r'points of shape \(N, 3\)'):
        points_in_boxes(torch.zeros(4, 4), torch.zeros(1, 7))
    with pytest.raises(ValueError, match=r'boxes of shape \(T, 7\)'):
        points_in_boxes(torch.zeros(4, 3), torch.zeros(1, 9))


@pytest.mark.parametrize('seed', SEEDS)
@pytest.mark.parametrize('radius', [0.05, 1.0, 100.0])
def test_three_nn_interpolate_matches_brute_force(seed, radius, monkeypatch):
    # small chunks and blocks: several chunks per frame, the exhaustive fallback taken
    monkeypatch.setattr(point_ops, '_TARGET_CHUNK', 7)
    monkeypatch.setattr(point_ops, '_DISTANCE_BLOCK', 64)
    g = torch.Generator().manual_seed(seed)
    src = torch.rand(80, 3, generator=g, dtype=torch.float64) * 4
    src_batch = torch.cat([torch.zeros(60), torch.ones(2), torch.full((18,), 3)]).long()
    tgt = torch.rand(70, 3, generator=g, dtype=torch.float64) * 4
    # frame 2 has targets but no source: zeros
    tgt_batch = torch.randint(0, 4, (70,), generator=g)
    feats = torch.randn(80, 5, generator=g, dtype=torch.float64, requires_grad=True)
    out = three_nn_interpolate(tgt, tgt_batch, src, src_batch, feats, radius=radius)
    expected = brute_force_interpolate(tgt, tgt_batch, src, src_batch, feats)
    torch.testing.assert_close(out, expected)
    assert torch.all(out[tgt_batch == 2] == 0)
    # gradients reach the features exactly as through the reference
    probe = torch.randn(70, 5, generator=g, dtype=torch.float64)
    grad, = torch.autograd.grad((out * probe).sum(), feats)
    grad_ref, = torch.autograd.grad((expected * probe).sum(), feats)
    torch.testing.assert_close(grad, grad_ref)


# ----------------------------------------------------------------------------- PSWarp
@pytest.mark.parametrize('seed', SEEDS)
def test_part_centres_are_sub_window_centres(seed):
    g = torch.Generator().manual_seed(seed)
    box = torch.rand(7, generator=g, dtype=torch.float64) * 4 + 0.5
    box[6] = (torch.rand(1, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    x, y, _, dx, dy, _, yaw = box.tolist()
    centres = part_centres(box[None], (3, 2))[0]
    rotation = torch.tensor([[math.cos(yaw), -math.sin(yaw)],
                             [math.sin(yaw), math.cos(yaw)]], dtype=torch.float64)
    for i in range(3):
        for j in range(2):
            local = torch.tensor([(i + 0.5) / 3 * dx - dx / 2, (j + 0.5) / 2 * dy - dy / 2],
                                 dtype=torch.float64)
            torch.testing.assert_close(centres[i * 2 + j],
                                       torch.tensor([x, y], dtype=torch.float64)
                                       + rotation @ local)


@pytest.mark.parametrize('seed', SEEDS)
def test_part_sensitive_warp_matches_bilinear_reference(seed):
    g = torch.Generator().manual_seed(seed)
    part_grid, num_classes, height, width = (3, 2), 2, 9, 11
    num_parts = part_grid[0] * part_grid[1]
    maps = torch.randn(2, num_parts * num_classes, height, width, generator=g,
                       dtype=torch.float64)
    corners = torch.tensor([1.0, -4.0, 21.0, 12.0], dtype=torch.float64)
    boxes = torch.rand(2, 5, 7, generator=g, dtype=torch.float64)
    boxes[..., 0] = boxes[..., 0] * 24 - 1  # some parts fall off the map: border
    boxes[..., 1] = boxes[..., 1] * 18 - 5
    boxes[..., 3:5] = boxes[..., 3:5] * 4 + 1
    boxes[..., 6] = (boxes[..., 6] * 2 - 1) * math.pi
    scores = part_sensitive_warp(maps, boxes, part_grid, corners)
    assert scores.shape == (2, 5, num_classes)
    x0, y0, x1, y1 = corners.tolist()
    centres = part_centres(boxes, part_grid)
    for b in range(2):
        for n in range(5):
            for c in range(num_classes):
                reads = [bilinear_read(maps[b, k * num_classes + c],
                                       (centres[b, n, k, 0] - x0) / (x1 - x0) * (width - 1),
                                       (centres[b, n, k, 1] - y0) / (y1 - y0) * (height - 1))
                         for k in range(num_parts)]
                torch.testing.assert_close(scores[b, n, c], torch.stack(reads).mean())


def test_part_sensitive_warp_rejects_bad_inputs():
    maps = torch.zeros(1, 6, 4, 4)
    corners = torch.tensor([0.0, 0.0, 3.0, 3.0])
    with pytest.raises(ValueError, match='not a multiple'):
        part_sensitive_warp(maps, torch.zeros(1, 2, 7), (2, 2), corners)
    with pytest.raises(ValueError, match=r'boxes of shape \(1, N, 7\)'):
        part_sensitive_warp(maps, torch.zeros(2, 7), (3, 2), corners)


def test_warp_reads_anchor_centres_at_their_pixels():
    """A part map holding each pixel's anchor centre, read along unmoved anchors with
    one part, returns that centre: the warp's metres-to-pixels map is the anchors'."""
    head = build_model(FOCAL_CONFIG).bbox_head
    head.part_grid = (1, 1)
    height = width = 8
    anchors = head.prior_generator.grid_anchors([(height, width)], device='cpu')[0]
    anchors = anchors.reshape(height, width, head.num_anchors, 7)
    for axis in (0, 1):
        maps = anchors[:, :, 0, axis][None, None]                        # [1, 1, H, W]
        scores = head.warp_parts(maps, torch.zeros(1, head.num_anchors * 7, height, width),
                                 None)
        expected = anchors[..., axis].permute(2, 0, 1)[None]             # [1, A, H, W]
        torch.testing.assert_close(scores, expected, atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------- encoder
def test_auxiliary_targets_use_gravity_centres():
    encoder = build_model(FOCAL_CONFIG).middle_encoder
    from mmdet3d.structures import LiDARInstance3DBoxes

    box = torch.tensor([[2.0, 1.0, -1.5, 4.0, 2.0, 1.5, math.pi / 2]])
    points = torch.tensor([[0, 2.0, 1.0, -1.0],     # centre of the box, frame 0
                           [0, 2.5, 2.5, -1.0],     # inside: length runs along y
                           [0, 3.5, 1.0, -1.0],     # outside: width is 2 along x
                           [1, 2.0, 1.0, -1.0]])    # frame 1 has no box
    labels, offsets = encoder.get_auxiliary_targets(
        points, [LiDARInstance3DBoxes(box), LiDARInstance3DBoxes(torch.zeros(0, 7))])
    assert labels.tolist() == [1, 1, 0, 0]
    gravity = torch.tensor([2.0, 1.0, -0.75])
    torch.testing.assert_close(offsets[0], points[0, 1:] - gravity)
    torch.testing.assert_close(offsets[1], points[1, 1:] - gravity)
    assert torch.all(offsets[2:] == 0)


def test_stage_geometry_and_empty_batch():
    from mmdet3d.models.middle_encoders import SparseEncoder

    model = build_model(FOCAL_CONFIG)
    encoder = model.middle_encoder
    points = frame_points(0)
    voxels = model.data_preprocessor(dict(inputs=dict(points=[points]),
                                          data_samples=[sample()]), False)['inputs']['voxels']
    features = model.voxel_encoder(voxels['voxels'], voxels['num_points'], voxels['coors'])
    # the parent's convolutions alone, for their stages
    spatial, stages = SparseEncoder.forward(encoder, features, voxels['coors'], 1)
    assert tuple(spatial.shape[1:]) == encoder.bev_shape()
    for level, stage in enumerate(stages[:3]):
        origin, size = encoder.stage_geometry(stage)
        torch.testing.assert_close(origin, torch.tensor(TINY_RANGE[:3], dtype=torch.float32))
        torch.testing.assert_close(size, torch.tensor([0.1, 0.1, 0.1]) * 2 ** level)
    empty, misc = encoder(features[:0], voxels['coors'][:0], 2, test_mode=False)
    assert empty.shape == (2, *spatial.shape[1:]) and not empty.any()
    assert [m.shape[0] for m in misc] == [0, 0, 0]


def test_encoder_rejects_a_grid_that_does_not_match_the_range():
    from mmdet3d.registry import MODELS

    cfg = tiny_model_cfg(FOCAL_CONFIG).middle_encoder
    cfg.sparse_shape = [41, 64, 128]
    with pytest.raises(ValueError, match='does not match point_cloud_range'):
        MODELS.build(cfg)


# ----------------------------------------------------------------------------- detectors
def test_baseline_and_ranking_models_match_at_inference(one_thread):
    focal, rank = build_model(FOCAL_CONFIG), build_model(RANK_CONFIG, seed=1)
    focal_state, rank_state = focal.state_dict(), rank.state_dict()
    assert {k: v.shape for k, v in focal_state.items()} == {
        k: v.shape for k, v in rank_state.items()}
    assert any(not torch.equal(focal_state[k], rank_state[k]) for k in focal_state)
    rank.load_state_dict(focal_state)
    focal.eval(), rank.eval()
    frames = [(frame_points(0), [CAR]), (frame_points(1, cars=()), [])]
    with torch.no_grad():
        out_focal, out_rank = run(focal, frames, 'predict'), run(rank, frames, 'predict')
    for a, b in zip(out_focal, out_rank):
        a, b = a.pred_instances_3d, b.pred_instances_3d
        assert len(a.scores_3d) > 0
        assert torch.equal(a.bboxes_3d.tensor, b.bboxes_3d.tensor)
        assert torch.equal(a.scores_3d, b.scores_3d)
        assert torch.equal(a.labels_3d, b.labels_3d)


def test_auxiliary_network_runs_in_training_only(monkeypatch):
    model = build_model(RANK_CONFIG)
    encoder = model.middle_encoder
    calls = []
    original = encoder.make_auxiliary_points
    monkeypatch.setattr(encoder, 'make_auxiliary_points',
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    frames = [(frame_points(0), [CAR])]
    losses = run(model, frames, 'loss')
    assert len(calls) == 3 and {'aux_loss_cls', 'aux_loss_reg'} <= set(losses)
    calls.clear()
    monkeypatch.setattr(encoder, 'aux_loss', lambda *a: pytest.fail('aux_loss at test'))
    model.eval()
    with torch.no_grad():
        results = run(model, frames, 'predict')
    assert calls == [] and len(results) == 1


def test_each_ranking_term_sends_gradient_to_the_head():
    model = build_model(RANK_CONFIG)
    head = model.bbox_head
    frames = [(frame_points(0), [CAR]), (frame_points(1), [CAR])]
    losses = run(model, frames, 'loss')
    assert {'loss_rank_global', 'loss_rank_class', 'loss_rank_iou', 'loss_bbox',
            'loss_dir'} <= set(losses)
    for name in ('loss_rank_global', 'loss_rank_class', 'loss_rank_iou'):
        model.zero_grad()
        losses[name].backward(retain_graph=True)
        assert head.conv_cls.weight.grad.abs().sum() > 0, name
        reg_grad = head.conv_reg.weight.grad
        reaches_boxes = reg_grad is not None and reg_grad.abs().sum() > 0
        # only the IoU-guided term reaches the box branch (the warp reads detached boxes)
        assert reaches_boxes == (name == 'loss_rank_iou'), name


def test_ranking_head_keeps_the_box_and_direction_losses(one_thread):
    focal, rank = build_model(FOCAL_CONFIG), build_model(RANK_CONFIG)
    rank.load_state_dict(focal.state_dict())
    frames = [(frame_points(0), [CAR]), (frame_points(2), [CAR])]
    loss_focal, loss_rank = run(focal, frames, 'loss'), run(rank, frames, 'loss')
    for name in ('loss_bbox', 'loss_dir', 'aux_loss_cls', 'aux_loss_reg'):
        value = loss_focal[name]
        value = sum(value) if isinstance(value, list) else value
        torch.testing.assert_close(loss_rank[name], value, msg=name)


def test_heads_reject_incompatible_losses():
    from mmdet3d.registry import MODELS

    cfg = tiny_model_cfg(FOCAL_CONFIG).bbox_head
    cfg.loss_cls = dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False)
    with pytest.raises(ValueError, match='use_sigmoid=True'):
        MODELS.build(cfg)
    cfg = tiny_model_cfg(RANK_CONFIG).bbox_head
    cfg.loss_cls = dict(type='mmdet.FocalLoss', use_sigmoid=True)
    with pytest.raises(TypeError, match='must build a RankingLoss'):
        MODELS.build(cfg)


def test_ranking_head_names_its_loss_as_the_2d_heads_do():
    """The config's loss_cls is the ranking losses' config (type='RankingLoss', as in 2D),
    built as head.loss_rank; the head keeps no unused focal loss_cls module."""
    from mmdet3d.registry import MODELS

    from rankdet.models.common import RankingLoss
    cfg = tiny_model_cfg(RANK_CONFIG).bbox_head
    assert cfg.loss_cls.type == 'RankingLoss'
    head = MODELS.build(cfg)
    assert isinstance(head.loss_rank, RankingLoss) and not hasattr(head, 'loss_cls')
    assert [m for m in head.modules() if isinstance(m, RankingLoss)] == [head.loss_rank]


DEGENERATE_BATCHES = {
    'a frame without cars': [(frame_points(0), [CAR]), (frame_points(1, cars=()), [])],
    'points outside the range, last in the batch': [
        (frame_points(0), [CAR]), (frame_points(3, offset=(-20.0, 30.0)), [])],
    'an empty point cloud with a box': [(torch.zeros(0, 4), [CAR]), (frame_points(4), [CAR])],
    'only empty point clouds': [(torch.zeros(0, 4), []), (torch.zeros(0, 4), [CAR])],
}


@pytest.mark.parametrize('config', [FOCAL_CONFIG, RANK_CONFIG], ids=['focal', 'rank'])
@pytest.mark.parametrize('case', list(DEGENERATE_BATCHES))
def test_degenerate_frames_train_and_test(config, case):
    model = build_model(config)
    frames = DEGENERATE_BATCHES[case]
    losses = run(model, frames, 'loss')
    loss = total(losses)
    assert torch.isfinite(loss), {k: v for k, v in losses.items()}
    loss.backward()
    model.eval()
    with torch.no_grad():
        results = run(model, frames, 'predict')
    assert len(results) == len(frames)
    for result in results:
        assert np.isfinite(result.pred_instances_3d.scores_3d.numpy()).all()


@pytest.mark.parametrize('config', [FOCAL_CONFIG, RANK_CONFIG], ids=['focal', 'rank'])
def test_wild_box_deltas_keep_the_losses_finite(config):
    """Early in training a size delta can be huge: the warp and the IoU-guided term cap
    the decoded size instead of reading an infinite box."""
    model = build_model(config)
    with torch.no_grad():
        model.bbox_head.conv_reg.bias.fill_(200.0)  # sizes exp(200) times the anchor
    losses = run(model, [(frame_points(0), [CAR])], 'loss')
    loss = total(losses)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
