"""`make demo` (tools/demo.py): the whole pipeline on its tiny profile through the real
command line, and its parts: the demo generator settings, the condensed loss lines, the
2D detection picture and the bird's-eye crop.

The demo's figures (AP after minutes of training) are measured by the demo itself, not
here: the tiny profile trains two iterations per run.
"""
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apps.demo.demo_data import DEMO_COCO, DEMO_KITTI, TINY_COCO, TINY_KITTI
from apps.demo.pictures import pick_samples
from apps.demo.protocol import LogFollower, format_iter_line, parse_iter_line
from data_converters.synthetic import CocoShapesConfig, make_image
from rankdet.visualization.crop import points_window
from rankdet.visualization.detections2d import render_detections_2d
from rankdet.visualization.scene_items import GT_COLOUR, PRED_COLOUR

ROOT = Path(__file__).resolve().parents[1]
MMENGINE_LINE = (
    '12/02 13:10:11 - mmengine - INFO - Iter(train) [ 40/300]  base_lr: 1.0000e-03 '
    'lr: 9.5e-04  eta: 0:00:51  time: 0.2012  data_time: 0.0040  memory: 0  '
    'grad_norm: 3.1250  loss: 1.4021  loss_rank_global: 0.8123  loss_rank_class: 0.4012  '
    'loss_bbox: 0.1886  rank/pos_score_mean: 0.4125  rank/bg_above_0.2: 0.0031  '
    'rank/saturated: 0.0000')


# ----------------------------------------------------------------------------- data
def test_default_shapes_stay_byte_identical():
    """The new size options default to the old formula: the evidence sets keep their
    bytes (digest of the generator before the options existed)."""
    digest = hashlib.sha256()
    cfg = CocoShapesConfig()
    for split, index in (('train', 0), ('train', 1), ('train', 2), ('val', 0)):
        pixels, annotations = make_image(cfg, split, index)
        digest.update(pixels.tobytes())
        digest.update(json.dumps(annotations, sort_keys=True).encode())
    assert digest.hexdigest() == \
        '999275f95e4e6cfdb70d6201870549d899b56fa30cdca54143a409b76987130b'


def test_object_radius_options_bound_the_shapes():
    """Lone circles, never hidden or cropped (else not annotated): their boxes are
    2 r across with r within [min_radius, max_radius_ratio * shorter side]."""
    cfg = CocoShapesConfig(num_classes=1, min_size=100, max_size=120, min_objects=1,
                           max_objects=1, min_clutter=0, max_clutter=0, max_occlusion=0.0,
                           min_radius=15.0, max_radius_ratio=0.4)
    widths = []
    for index in range(40):
        pixels, annotations = make_image(cfg, 'train', index)
        for ann in annotations:
            width, height = ann['bbox'][2:]
            widths.append(width)
            assert abs(width - height) <= 1
            assert 2 * 15.0 - 2 <= width <= 2 * 0.4 * min(pixels.shape[:2]) + 2
    assert len(widths) >= 10 and max(widths) - min(widths) > 20  # spread over the range


def test_object_radius_errors():
    with pytest.raises(ValueError, match='max_radius_ratio must be in'):
        CocoShapesConfig(max_radius_ratio=0.6)
    with pytest.raises(ValueError, match='min_radius'):
        CocoShapesConfig(min_radius=3.0)
    with pytest.raises(ValueError, match='min_radius'):
        CocoShapesConfig(min_size=64, max_size=64, min_radius=30.0)


def test_demo_sets_are_the_easy_ones():
    """What the demo promises its data to be, and the tiny profile shares it."""
    assert DEMO_COCO.num_classes <= 3 and DEMO_COCO.max_clutter == 0
    assert DEMO_COCO.max_occlusion <= 0.3 and DEMO_COCO.max_objects <= 5
    assert DEMO_COCO.min_radius >= 0.1 * DEMO_COCO.min_size
    assert DEMO_KITTI.max_distance <= 25.0
    for tiny, full in ((TINY_COCO, DEMO_COCO), (TINY_KITTI, DEMO_KITTI)):
        assert {k: v for k, v in vars(tiny).items() if not k.startswith('num_')} == \
            {k: v for k, v in vars(full).items() if not k.startswith('num_')}


# ----------------------------------------------------------------------------- screen
def test_loss_line_is_parsed_and_condensed():
    values = parse_iter_line(MMENGINE_LINE)
    assert values['iter'] == 40 and values['max_iters'] == 300
    assert values['loss_rank_class'] == pytest.approx(0.4012)
    assert values['rank/bg_above_0.2'] == pytest.approx(0.0031)
    assert values['base_lr'] == pytest.approx(1e-3)
    text = format_iter_line(values)
    assert text == ('iter   40/300  loss 1.4 (global 0.812, class 0.401, bbox 0.189) | '
                    'pos_score 0.41, bg>0.2 0.0031, saturated 0 | 0.2 s/it')
    assert parse_iter_line('12/02 13:10:11 - mmengine - INFO - Checkpoints saved') is None


def test_log_follower_prints_a_few_lines_per_job(tmp_path):
    class FakeJob:
        name, work_dir = '2d/warm', tmp_path

    printed = []
    follower = LogFollower([FakeJob()], printed.append, lines_per_job=4)
    log = tmp_path / 'job.log'
    with open(log, 'w') as f:
        f.write('environment dump\n' * 50)
        for it in range(10, 101, 10):
            f.write(MMENGINE_LINE.replace('[ 40/300]', f'[{it:3d}/100]') + '\n')
        f.write(MMENGINE_LINE.replace('[ 40/300]', '[100/1'))  # half-written line
    follower.poll()
    iters = [int(line.split('iter')[1].split('/')[0]) for line in printed]
    assert iters == [30, 50, 80, 100]  # due every 25 iterations; logged every 10
    assert all(line.startswith('  2d/warm  iter') for line in printed)
    assert follower.last['2d/warm']['iter'] == 100
    follower.poll()  # nothing new: nothing printed twice
    assert len(printed) == 4


def test_pick_samples_prefers_busy_ones():
    assert pick_samples([1, 3, 0, 2, 5, 1], 3) == [1, 3, 4]
    assert pick_samples([1, 0, 2], 3) == [0, 1, 2]
    assert pick_samples([0, 0], 3) == [0, 1]


# ----------------------------------------------------------------------------- pictures
def test_detections_2d_picture(tmp_path):
    image = np.full((60, 80, 3), 128, dtype=np.uint8)
    path = render_detections_2d(tmp_path / 'a.png', image, [[10, 10, 40, 30]], [0],
                                [[45, 20, 75, 50]], [0.87], [1], ['circle', 'square'],
                                min_side_px=240)
    picture = np.asarray(Image.open(path).convert('RGB')).astype(int)
    assert picture.shape == (240, 320, 3)  # 4x enlarged, no title
    # the ground-truth box's left edge (x = 10 -> 40 px) is green, the prediction's
    # top edge (y = 20 -> 80 px) red-orange
    gt = np.round(np.array(GT_COLOUR) * 255)
    pred = np.round(np.array(PRED_COLOUR) * 255)
    assert (np.abs(picture[60:100, 38:43] - gt).sum(-1) < 60).any()
    assert (np.abs(picture[78:83, 190:290] - pred).sum(-1) < 60).any()
    with pytest.raises(ValueError, match='pred_scores must give one score'):
        render_detections_2d(tmp_path / 'b.png', image, pred_boxes=[[0, 0, 5, 5]])
    with pytest.raises(ValueError, match=r'gt_boxes must have shape \[N, 4\]'):
        render_detections_2d(tmp_path / 'b.png', image, gt_boxes=[[0, 0, 5]])
    assert not (tmp_path / 'b.png').exists()


def test_points_window_holds_points_boxes_and_sensor():
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(5, 20, 1000), rng.uniform(-8, 6, 1000)])
    points = np.concatenate([points, [[90.0, 40.0]]])  # one stray far return
    (x0, x1), (y0, y1) = points_window(points, boxes=np.array([[22.0, -9.5, 0]]), margin=2)
    inside = ((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0)
              & (points[:, 1] <= y1))
    assert inside.mean() >= 0.98 and not inside[-1]
    assert x0 <= -2 + 1e-9 and x1 >= 24 - 1e-9 and y0 <= -11.5 + 1e-9
    assert x1 - x0 < 30 and y1 - y0 < 20  # cropped, not KITTI's 70 x 80 m
    with pytest.raises(ValueError, match='points must have shape'):
        points_window(np.zeros((0, 3)))


# ----------------------------------------------------------------------------- end to end
def test_demo_tiny_profile_end_to_end(tmp_path):
    """tools/demo.py on the tiny profile: data, both chains (warm start then ranking
    losses from its checkpoint), tables, pictures and summary.json, in one screen."""
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    # its own process group: a demo stopped at the time limit takes its runs with it
    process = subprocess.Popen(
        [sys.executable, str(ROOT / 'tools' / 'demo.py'), '--profile', 'tiny', '--stages',
         'data', '2d', '3d', '--data-root', str(tmp_path / 'data'), '--work-dir', str(work)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    lines = stdout.splitlines()
    assert len(lines) <= 100, stdout
    assert len(stderr.splitlines()) <= 5, stderr[-3000:]
    for job in ('2d/warm', '2d/rank', '3d/warm', '3d/rank'):
        assert any(line.startswith(f'  {job:<8} iter') for line in lines), job
        log = (work / job / 'job.log').read_text()
        assert 'Environment' in log or 'Config' in log or 'Iter(train)' in log
    assert not any('Iter(train)' in line for line in lines)  # raw mmengine lines stay out

    summary = json.loads((work / 'summary.json').read_text())
    assert set(summary['2d']['ranking']) >= {'AP', 'AP50', 'AP75'}
    assert set(summary['3d']['ranking']) >= {'Car_3D_AP40_moderate',
                                             'Car_BEV_AP40_moderate'}
    for kind in ('2d', '3d'):
        for run in ('warm_start', 'ranking'):
            assert summary[kind][run].keys() == summary[kind]['ranking'].keys()
            assert all(math.isfinite(v) for v in summary[kind][run].values())
        assert summary[kind]['iterations'] == dict(warm_start=2, ranking=2)
    # the ranking runs started from their warm start's checkpoint
    for kind in ('2d', '3d'):
        spec = json.loads((work / kind / 'rank' / 'job.json').read_text())
        assert spec['load_from'] == str((work / kind / 'warm' / 'train' / 'iter_2.pth')
                                        .resolve())
    pictures = summary['2d']['pictures'] + summary['3d']['pictures']
    assert len(summary['2d']['pictures']) == 3
    assert {Path(p).name.split('_')[-1] for p in summary['3d']['pictures']} <= \
        {'bev.png', '3d.png'}
    for picture in pictures:
        with Image.open(picture) as image:
            assert min(image.size) >= 200
        assert picture in stdout
    assert summary['seconds'] > 0


def test_demo_2d_options_fit_the_evidence_config(tmp_path):
    """The 2D chain's options reach the config the job builds: the demo's classes,
    images at their own size, anchors from 32 px; a misplaced Resize index is refused."""
    from apps.demo.demo_run import PROFILES, check_resize_steps
    from apps.demo.protocol import Chain, chain_jobs
    from apps.evidence.job import build_config

    chain = PROFILES['demo']['2d']
    check_resize_steps(chain)
    warm, rank = chain_jobs('2d', chain, tmp_path / 'coco', tmp_path / 'work')
    assert rank.after == ['2d/warm'] and rank.spec['load_from'].endswith(
        f'2d/warm/train/iter_{chain.warm_iters}.pth')
    for job in (warm, rank):
        cfg = build_config(job.spec)
        assert cfg.model.bbox_head.num_classes == DEMO_COCO.num_classes == 3
        assert cfg.model.bbox_head.anchor_generator.octave_base_scale == 4
        for loader in ('train_dataloader', 'test_dataloader'):
            dataset = cfg[loader].dataset
            assert list(dataset.metainfo.classes) == ['circle', 'square', 'triangle']
            assert [step.scale for step in dataset.pipeline if step.type == 'Resize'] == \
                [DEMO_COCO.max_size]
            assert dataset.data_root == f'{tmp_path / "coco"}/'
    wrong = Chain(**{**vars(chain), 'cfg_options': (
        ('train_dataloader.dataset.pipeline.1.scale', 128),)})
    with pytest.raises(ValueError, match='pipeline step 1 is LoadAnnotations'):
        check_resize_steps(wrong)


def test_the_continuation_alone_takes_the_rank_options():
    """The demo's SA-SSD continuation fine-tunes at a tenth of the learning rate: the
    option reaches the ranking job only, beside the options both jobs share."""
    from apps.demo.demo_run import PROFILES
    from apps.demo.protocol import chain_jobs

    chain = PROFILES['demo']['3d']
    assert dict(chain.rank_cfg_options) == {'optim_wrapper.optimizer.lr': 3e-4}
    warm, rank = chain_jobs('3d', chain, '/nowhere/kitti', '/nowhere/work')
    assert 'optim_wrapper.optimizer.lr' not in warm.spec['cfg_options']
    assert rank.spec['cfg_options'] == dict(chain.cfg_options,
                                            **{'optim_wrapper.optimizer.lr': 3e-4})
    two_d = PROFILES['demo']['2d']
    warm2, rank2 = chain_jobs('2d', two_d, '/nowhere/coco', '/nowhere/work')
    assert warm2.spec['cfg_options'] == rank2.spec['cfg_options'] == dict(two_d.cfg_options)
