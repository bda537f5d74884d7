"""The 3D half of ``make demo``: ranking SA-SSD trained briefly on the CPU, evaluated with
the CPU KITTI metric, and its detections drawn.

    from rankdet.demo.demo3d import run_3d_demo
    run_3d_demo('work_dirs/demo3d', 'data/synthetic/kitti', iters=100)

The config is ``configs3d/rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py`` (SA-SSD on a
smaller range with 0.1 m voxels: an iteration of two frames takes 1-3 s on one CPU
thread); the data root is any KITTI-format folder: the synthetic set of
``tools/make_synthetic.py``, the real sample in ``../shared/data/kitti_sample`` or KITTI.
"""
from __future__ import annotations

import importlib.util
import os.path as osp
import pickle
from pathlib import Path

from rankdet.fit_schedule import fit_schedule

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO_ROOT / 'configs3d' / 'rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py'

__all__ = ['DEMO_CONFIG', 'run_3d_demo', 'with_data_root', 'fit_schedule']


def with_data_root(cfg, data_root) -> None:
    """Point a config's datasets, GT-sampling database and evaluators at ``data_root``.

    Every string of the config that starts with its ``data_root`` is rewritten to start
    with the new one (paths nested in pipelines, such as the GT-sampling database's,
    included). ``cfg`` is changed in place.
    """
    old = cfg.get('data_root')
    if not old:
        raise KeyError(f'config {cfg.filename} has no data_root to replace')
    new = str(data_root).rstrip('/') + '/'

    def reroot(value):
        if isinstance(value, dict):
            return type(value)({k: reroot(v) for k, v in value.items()})
        if isinstance(value, (list, tuple)):
            return type(value)(reroot(v) for v in value)
        if isinstance(value, str) and value.startswith(old):
            return new + value[len(old):]
        return value

    for key in list(cfg.keys()):
        cfg[key] = reroot(cfg[key])


def _converted(data_root: Path, work_dir: Path) -> Path:
    """A folder with the mmdet3d info files of ``data_root``: itself when it has them,
    else a conversion written under ``work_dir`` (``data_root`` may be read-only)."""
    if (data_root / 'kitti_infos_train.pkl').is_file():
        return data_root
    from data_converters.kitti_converter import kitti_data_prep

    out = work_dir / 'data'
    if not (out / 'kitti_infos_train.pkl').is_file():
        kitti_data_prep(data_root, out_dir=out)
    return out


def _load_vis3d():
    """``tools/vis3d.py`` as a module (tools/ is not a package)."""
    path = REPO_ROOT / 'tools' / 'vis3d.py'
    spec = importlib.util.spec_from_file_location('rankdet_tools_vis3d', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_detections(results_file, kitti_root, frames, out_dir, top_k: int = 5,
                      with_3d: bool = True) -> list[Path]:
    """Draw ground truth and the best detections of KITTI ``training`` frames with
    tools/vis3d.py.

    Args:
        results_file: mmdet3d's results pickle (``DumpResults``).
        kitti_root: KITTI root holding ``training/{velodyne,calib,label_2,image_2}``.
        frames: frame numbers to draw.
        out_dir: where ``{frame}_bev.png`` (and ``{frame}_3d.png``) go.
        top_k: the detections drawn per frame, best scores first.
        with_3d: also render the open3d view (offscreen).

    Returns:
        the PNG paths written.
    """
    from rankdet.visualization import load_predictions

    vis3d = _load_vis3d()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for frame in frames:
        name = f'{int(frame):06d}'
        scores = sorted(load_predictions(results_file, f'{name}.bin', int(frame)).scores,
                        reverse=True)
        score_thr = scores[min(top_k, len(scores)) - 1] if scores else 0.0
        argv = ['--kitti-root', str(kitti_root), '--index', name, '--fov-only',
                '--results', str(results_file), '--score-thr', repr(float(score_thr)),
                '--bev-out', str(out_dir / f'{name}_bev.png')]
        if with_3d:
            argv += ['--out', str(out_dir / f'{name}_3d.png')]
        vis3d.main(argv)
        written.append(out_dir / f'{name}_bev.png')
        if with_3d:
            written.append(out_dir / f'{name}_3d.png')
    return written


def run_3d_demo(work_dir, data_root, iters: int = 100, config=DEMO_CONFIG,
                num_pictures: int = 2, top_k: int = 5, threads: int = 1) -> dict:
    """Train the ranking SA-SSD CPU demo, evaluate it, draw a few validation frames.

    Args:
        work_dir: logs, the checkpoint, ``results.pkl`` and ``pictures/`` go here.
        data_root: a KITTI-format root (``ImageSets``, ``training``); converted into
            ``work_dir/data`` when it has no ``kitti_infos_train.pkl``.
        iters: training iterations (one batch of two frames each).
        config: the mmengine config to run.
        num_pictures: validation frames to draw.
        top_k: detections drawn per frame, best first.
        threads: torch CPU threads while the demo runs (restored after). One by
            default: on two shared cores one thread is the fastest (spconv's CPU
            scatter-add race with several threads is fixed by ``import rankdet``).

    Returns:
        dict: ``metrics`` (KITTI APs), ``checkpoint``, ``results`` and ``pictures``.
    """
    import torch

    import rankdet  # noqa: F401  registers rankdet's modules, applies its fixes
    from mmengine.runner import Runner

    from rankdet.runner_config import load_config

    work_dir, data_root = Path(work_dir).resolve(), Path(data_root).resolve()
    if not (data_root / 'ImageSets').is_dir():
        raise FileNotFoundError(f'{data_root}: not a KITTI-format root (no ImageSets/); '
                                f'make one with tools/make_synthetic.py kitti')
    data_dir = _converted(data_root, work_dir)
    cfg = load_config(str(config), work_dir=str(work_dir))
    with_data_root(cfg, data_dir)
    fit_schedule(cfg, iters)
    # evaluate once, after training, on the test split (KITTI val) with the predictions
    # dumped for drawing, as tools/test.py --out does
    results_file = work_dir / 'results.pkl'
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [
        cfg.test_evaluator]
    cfg.test_evaluator = list(evaluators) + [
        dict(type='DumpResults', out_file_path=str(results_file))]
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    # a briefly trained model scores below the configs' 0.1: keep every box after NMS,
    # so that AP and the pictures see the model's best guesses
    cfg.model.test_cfg.score_thr = 0.0

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.test()
    finally:
        torch.set_num_threads(previous_threads)

    with open(data_dir / 'kitti_infos_val.pkl', 'rb') as f:
        val_infos = pickle.load(f)['data_list']
    frames = [int(osp.splitext(info['lidar_points']['lidar_path'])[0])
              for info in val_infos[:num_pictures]]
    pictures = render_detections(results_file, data_root, frames, work_dir / 'pictures',
                                 top_k=top_k)
    prefix = 'Kitti metric/pred_instances_3d/KITTI/Car_'
    print(f'{Path(config).stem} after {iters} iterations, Car AP40 (moderate): '
          + ', '.join(f'{kind} {metrics.get(f"{prefix}{kind}_AP40_moderate_strict", 0):.2f}'
                      for kind in ('3D', 'BEV', '2D')))
    print('pictures: ' + ', '.join(str(p) for p in pictures))
    return dict(metrics=metrics, checkpoint=work_dir / f'iter_{iters}.pth',
                results=results_file, pictures=pictures)
