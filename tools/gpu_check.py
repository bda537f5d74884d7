"""`make gpu-check`: does the GPU environment work on this machine's CUDA GPU?

    python tools/gpu_check.py [--work-dir DIR] [--only NAME ...] [--budget-s 600]
                              [--json-out FILE]

At most ten minutes on one GPU. Each check runs in its own process (a CUDA error cannot
spoil the next one) within what is left of ``--budget-s``:

  env           torch's CUDA build, mmcv's ops compiled for the same CUDA, spconv's CUDA
                build, rankdet's CPU stand-ins out of the way (rankdet/compat)
  mmcv-nms      mmcv's NMS, batched NMS and soft-NMS on CUDA tensors = on CPU tensors
  mmcv-voxel    mmcv's hard and dynamic voxelisation on CUDA = on CPU
  spconv        a sparse network's forward and backward on CUDA = on CPU
  loss-cuda     RankingLoss vs mmdet's FocalLoss (mmcv's CUDA sigmoid_focal_loss) on the
                inputs of tools/benchmark_losses.py (2 images x 100k anchors x 80
                classes): forward + backward time and peak memory, and the ranking
                loss's value and gradient on CUDA = on CPU
  demo-data     the demo's synthetic sets, tiny profile (COCO shapes, KITTI LiDAR)
  demo-retinanet, demo-atss, demo-sassd
                50 iterations of the ranking demo config with a test pass, then 50 of
                its focal baseline: median step time ranking / focal
  nccl          2-process training through tools/dist_train.sh (NCCL), with >= 2 GPUs
  benchmark     tools/benchmark_losses.py --device cuda, where that flag exists

It prints one table (check, status, seconds, result) and exits 1 if any check failed, 2
if there is no CUDA device at all (then nothing runs). Logs: <work-dir>/logs/<check>.log.
"""
import argparse
import contextlib
import io
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEMO_ITERS = 50
DEMOS = {  # check name: (kind, ranking config, focal config)
    'demo-retinanet': ('2d', 'configs2d/demo/rank-retinanet_r18_fpn_demo_synthetic.py',
                       'configs2d/demo/retinanet_r18_fpn_demo_synthetic.py'),
    'demo-atss': ('2d', 'configs2d/demo/rank-atss_r18_fpn_demo_synthetic.py',
                  'configs2d/demo/atss_r18_fpn_demo_synthetic.py'),
    'demo-sassd': ('3d', 'configs3d/rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py',
                   'configs3d/sassd_pswarp_cpu-demo_synthetic-3d-car.py'),
}


# --- the orchestration (plain Python: tested on machines without CUDA) ---------------------

@dataclass
class Check:
    """One check: ``argv`` (a command; ``--result FILE`` is appended) run in its own
    process within ``timeout_s``, after the checks named in ``needs`` have passed."""
    name: str
    argv: List[str]
    timeout_s: float
    needs: Sequence[str] = ()


@dataclass
class Outcome:
    name: str
    status: str  # 'ok', 'FAIL' or 'skip'
    seconds: float
    result: str
    figures: Dict[str, float] = field(default_factory=dict)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else '(no output)'


def run_check(check: Check, timeout_s: float, log_dir: Path) -> Outcome:
    """Run one check; a non-zero exit, a time-out or a missing result is a failure whose
    result is the last line of the check's output (its log keeps all of it)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path, result_path = log_dir / f'{check.name}.log', log_dir / f'{check.name}.json'
    result_path.unlink(missing_ok=True)
    start = time.monotonic()
    with open(log_path, 'w') as log:
        # a session of its own: a time-out ends the check's children too (torchrun's)
        proc = subprocess.Popen(check.argv + ['--result', str(result_path)], stdout=log,
                                stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        try:
            code = proc.wait(timeout=max(timeout_s, 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Outcome(check.name, 'FAIL', time.monotonic() - start,
                           f'timed out after {timeout_s:.0f} s (log: {log_path})')
    seconds = time.monotonic() - start
    if code != 0:
        return Outcome(check.name, 'FAIL', seconds,
                       f'exit {code}: {_last_line(log_path.read_text())} (log: {log_path})')
    try:
        data = json.loads(result_path.read_text())
        return Outcome(check.name, data.get('status', 'ok'), seconds, str(data['result']),
                       dict(data.get('figures', {})))
    except (OSError, ValueError, KeyError) as err:
        return Outcome(check.name, 'FAIL', seconds, f'no result from the check ({err}); '
                       f'log: {log_path}')


def run_checks(checks: Sequence[Check], budget_s: float, log_dir: Path,
               progress: Callable[[str], None] = print) -> List[Outcome]:
    """Run ``checks`` in order within ``budget_s`` seconds in all; each gets at most its
    own time-out and what is left of the budget. A check whose ``needs`` did not pass,
    or for which no time is left, fails without running."""
    deadline = time.monotonic() + budget_s
    outcomes: Dict[str, Outcome] = {}
    for check in checks:
        failed = [n for n in check.needs if outcomes.get(n) is None
                  or outcomes[n].status != 'ok']
        left = deadline - time.monotonic()
        if failed:
            outcome = Outcome(check.name, 'FAIL', 0.0, f'not run: needs {", ".join(failed)}')
        elif left < 1:
            outcome = Outcome(check.name, 'FAIL', 0.0,
                              f'not run: the {budget_s:.0f} s budget was spent')
        else:
            progress(f'[gpu-check] {check.name} ...')
            outcome = run_check(check, min(check.timeout_s, left), log_dir)
        outcomes[check.name] = outcome
        progress(f'[gpu-check] {check.name}: {outcome.status} ({outcome.seconds:.0f} s) '
                 f'{outcome.result}')
    return list(outcomes.values())


def render_table(outcomes: Sequence[Outcome]) -> str:
    """The one table gpu-check prints (markdown)."""
    lines = ['| check | status | seconds | result |', '|---|---|---|---|']
    for o in outcomes:
        result = o.result.replace('|', '/').replace('\n', ' ')
        lines.append(f'| {o.name} | {o.status} | {o.seconds:.0f} | {result} |')
    return '\n'.join(lines)


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 when no check failed (skipped ones included), else 1."""
    return 1 if any(o.status == 'FAIL' for o in outcomes) else 0


# --- the checks (each runs in a worker process on the GPU) ---------------------------------

def _to_cuda(*tensors):
    return [t.cuda() for t in tensors]


def _on_cuda(tensor, what: str) -> None:
    if tensor.device.type != 'cuda':
        raise AssertionError(f'{what} returned a tensor on {tensor.device}, not on CUDA')


def _assert_close(cuda, cpu, what: str, tol: float = 2e-3) -> None:
    """``cuda`` (any device) matches ``cpu`` within ``tol`` in relative norm: summation
    order, atomics and TF32 change the last bits, a wrong result changes far more."""
    cuda = cuda.detach().cpu().double()
    cpu = cpu.detach().cpu().double()
    if cuda.shape != cpu.shape:
        raise AssertionError(f'{what}: shape {tuple(cuda.shape)} on CUDA, {tuple(cpu.shape)} '
                             f'on CPU')
    rel = float((cuda - cpu).norm() / cpu.norm().clamp(min=1e-30))
    if not rel <= tol:
        raise AssertionError(f'{what}: CUDA differs from CPU by {rel:.1e} (relative norm, '
                             f'allowed {tol:.0e})')


def check_env(work_dir: Path) -> dict:
    import importlib.metadata as metadata

    import torch
    from cumm import tensorview as tv
    from mmcv.ops import get_compiling_cuda_version

    import rankdet.registration  # noqa: F401  applies rankdet/compat
    import spconv.pytorch.ops as spconv_ops
    from rankdet.compat.spconv_cpu import _PATCHED_ATTR

    problems = []
    if get_compiling_cuda_version() != torch.version.cuda:
        problems.append(f'mmcv ops built for CUDA {get_compiling_cuda_version()}, torch '
                        f'{torch.version.cuda}')
    if tv.is_cpu_only():
        problems.append('spconv/cumm is a CPU-only build')
    if getattr(spconv_ops.get_current_stream, _PATCHED_ATTR, False):
        problems.append("rankdet's CPU stream stand-in is applied although CUDA is there")
    x = torch.arange(1000, dtype=torch.float32, device='cuda')
    if float(x.sum()) != 499500.0:
        problems.append('a sum on the GPU is wrong')
    if problems:
        raise RuntimeError('; '.join(problems))
    spconv_dist = next(d for d in ('spconv-cu126', 'spconv') if _has_dist(metadata, d))
    props = torch.cuda.get_device_properties(0)
    return dict(result=f'{props.name} x{torch.cuda.device_count()} (sm_{props.major}'
                       f'{props.minor}, {props.total_memory / 2 ** 30:.0f} GiB), torch '
                       f'{torch.__version__} CUDA {torch.version.cuda}, mmcv ops CUDA '
                       f'{get_compiling_cuda_version()}, {spconv_dist} '
                       f'{metadata.version(spconv_dist)}')


def _has_dist(metadata, name):
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def _random_boxes(n, gen):
    import torch
    xy = torch.rand(n, 2, generator=gen) * 400
    wh = torch.rand(n, 2, generator=gen) * 80 + 4
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=gen)


def check_nms(work_dir: Path) -> dict:
    import torch
    from mmcv.ops import batched_nms, nms, soft_nms

    gen = torch.Generator().manual_seed(0)
    boxes, scores = _random_boxes(3000, gen)
    idxs = torch.randint(0, 5, (3000,), generator=gen)
    _, keep_cpu = nms(boxes, scores, 0.5)
    _, keep_gpu = nms(*_to_cuda(boxes, scores), 0.5)
    _on_cuda(keep_gpu, 'nms')
    assert torch.equal(keep_gpu.cpu(), keep_cpu), 'nms: CUDA != CPU'
    _, bkeep_cpu = batched_nms(boxes, scores, idxs, dict(type='nms', iou_threshold=0.5))
    _, bkeep_gpu = batched_nms(*_to_cuda(boxes, scores, idxs),
                               dict(type='nms', iou_threshold=0.5))
    assert torch.equal(bkeep_gpu.cpu(), bkeep_cpu), 'batched_nms: CUDA != CPU'
    dets_cpu, skeep_cpu = soft_nms(boxes[:500], scores[:500], 0.3, min_score=1e-3)
    dets_gpu, skeep_gpu = soft_nms(*_to_cuda(boxes[:500], scores[:500]), 0.3, min_score=1e-3)
    assert torch.equal(skeep_gpu.cpu(), skeep_cpu), 'soft_nms: CUDA != CPU'
    _assert_close(dets_gpu, dets_cpu, 'soft_nms rescored boxes', tol=1e-6)
    return dict(result=f'nms keeps {len(keep_cpu)}/3000, batched {len(bkeep_cpu)}, soft-NMS '
                       f'{len(skeep_cpu)}/500: CUDA = CPU')


def check_voxel(work_dir: Path) -> dict:
    import torch
    from mmcv.ops import Voxelization

    gen = torch.Generator().manual_seed(0)
    pc_range = [0, -20, -3, 35.2, 20, 1]
    points = torch.rand(30000, 4, generator=gen)
    points[:, :3] = points[:, :3] * torch.tensor([40.0, 44.0, 5.0]) + torch.tensor(
        [-2.0, -22.0, -3.5])  # some points outside the range
    hard = Voxelization([0.4, 0.4, 0.4], pc_range, max_num_points=5, max_voxels=40000)
    results = [hard(p) for p in (points, points.cuda())]
    _on_cuda(results[1][0], 'hard voxelisation')
    cpu, gpu = [[t.cpu() for t in r] for r in results]

    def by_coords(voxels, coors, num):
        key = (coors[:, 0] * 1000 + coors[:, 1]) * 1000 + coors[:, 2]
        order = torch.argsort(key)
        return voxels[order], coors[order], num[order]

    for a, b, what in zip(by_coords(*cpu), by_coords(*gpu), ('voxels', 'coords', 'counts')):
        assert torch.equal(a, b), f'hard voxelisation: {what} differ between CUDA and CPU'
    dynamic = Voxelization([0.4, 0.4, 0.4], pc_range, max_num_points=-1)
    assert torch.equal(dynamic(points.cuda()).cpu(), dynamic(points)), \
        'dynamic voxelisation: CUDA != CPU'
    in_range = int((dynamic(points)[:, 0] >= 0).sum())
    return dict(result=f'hard: {len(cpu[1])} voxels, dynamic: {in_range} of {len(points)} '
                       f'points in range: CUDA = CPU')


def check_spconv(work_dir: Path) -> dict:
    import spconv.pytorch as spconv
    import torch

    import rankdet.registration  # noqa: F401  the CPU reference needs the scatter fix

    torch.manual_seed(0)
    coords = torch.unique(torch.randint(0, 40, (4000, 3)), dim=0)
    indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords.int()], 1)
    feats = torch.randn(len(indices), 16)
    net = spconv.SparseSequential(
        spconv.SubMConv3d(16, 32, 3, padding=1, bias=False, indice_key='s1'),
        spconv.SparseConv3d(32, 32, 3, 2, padding=1, bias=False))

    def run(device):
        model = net.to(device)
        model.zero_grad()
        x = feats.to(device).requires_grad_(True)
        out = model(spconv.SparseConvTensor(x, indices.to(device), [40, 40, 40], 1))
        (out.features ** 2).sum().backward()
        key = ((out.indices[:, 1] * 64 + out.indices[:, 2]) * 64 + out.indices[:, 3]).long()
        order = torch.argsort(key)
        return (out.features.detach()[order].cpu(), x.grad.cpu(),
                [p.grad.cpu() for p in model.parameters()])

    out_cpu, grad_cpu, wgrad_cpu = run('cpu')
    out_gpu, grad_gpu, wgrad_gpu = run('cuda')
    _assert_close(out_gpu, out_cpu, 'spconv forward')
    _assert_close(grad_gpu, grad_cpu, 'spconv gradient of the features')
    for i, (a, b) in enumerate(zip(wgrad_gpu, wgrad_cpu)):
        _assert_close(a, b, f'spconv gradient of weight {i}')
    return dict(result=f'SubMConv3d + SparseConv3d, {len(indices)} sites: forward and '
                       f'backward CUDA = CPU')


def _load_benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location('rankdet_benchmark_losses',
                                                  REPO / 'tools' / 'benchmark_losses.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def benchmark_has_device_flag() -> bool:
    """True if tools/benchmark_losses.py accepts ``--device cuda``."""
    bench = _load_benchmark()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            bench.parse_args(['--device', 'cuda'])
        return True
    except SystemExit:
        return False


def _cuda_measure(step, make_inputs, repeats=20) -> dict:
    """Median forward + backward time (ms) and peak extra CUDA memory (MB) of ``step``."""
    import torch

    step(*make_inputs())  # warm-up
    times = []
    for _ in range(repeats):
        inputs = make_inputs()
        torch.cuda.synchronize()
        start = time.perf_counter()
        step(*inputs)
        torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - start))
    inputs = make_inputs()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step(*inputs)
    torch.cuda.synchronize()
    return dict(ms=statistics.median(times),
                mb=(torch.cuda.max_memory_allocated() - base) / 2 ** 20)


def check_loss(work_dir: Path) -> dict:
    import torch
    from mmdet.models.losses import FocalLoss

    from rankdet.models.losses import RankingLoss

    torch.backends.cuda.matmul.allow_tf32 = False
    bench = _load_benchmark()
    logits, labels, ious, levels = bench.retinanet_batch(seed=0)

    # the ranking loss on CUDA = on CPU (value and gradient)
    results = []
    for lg in (logits, logits.cuda()):
        x = lg.clone().requires_grad_(True)
        dev = lg.device
        total = sum(RankingLoss()(x, labels.to(dev), ious=ious.to(dev),
                                  levels=levels.to(dev)).values())
        total.backward()
        results.append((total.detach().cpu(), x.grad.cpu()))
    _assert_close(results[1][0], results[0][0], 'RankingLoss value', tol=1e-4)
    _assert_close(results[1][1], results[0][1], 'RankingLoss gradient', tol=1e-3)

    logits, labels, ious, levels = _to_cuda(logits, labels, ious, levels)
    focal = _cuda_measure(bench.focal_step(FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25)),
                          lambda: (logits.clone().requires_grad_(True), labels))
    figures = {'focal_ms': focal['ms'], 'focal_mb': focal['mb']}
    parts = [f"focal (mmcv CUDA op) {focal['ms']:.2f} ms {focal['mb']:.0f} MB"]
    for key, kwargs in (('rank', {}), ('rank_ohem', dict(mining='ohem')),
                        ('rank_nomining', dict(mining='none'))):
        r = _cuda_measure(bench.ranking_step(RankingLoss(**kwargs)),
                          lambda: (logits.clone().requires_grad_(True), labels,
                                   ious.clone().requires_grad_(True), levels))
        figures.update({f'{key}_ms': r['ms'], f'{key}_mb': r['mb'],
                        f'{key}_time_ratio': r['ms'] / focal['ms'],
                        f'{key}_memory_ratio': r['mb'] / focal['mb']})
        parts.append(f"{key} {r['ms']:.2f} ms ({r['ms'] / focal['ms']:.2f}x) "
                     f"{r['mb']:.0f} MB ({r['mb'] / focal['mb']:.2f}x)")
    return dict(result='2x100k anchors x 80 classes, fwd+bwd: ' + '; '.join(parts) +
                '; ranking CUDA = CPU', figures=figures)


def check_benchmark(work_dir: Path) -> dict:
    if not benchmark_has_device_flag():
        return dict(status='skip', result='tools/benchmark_losses.py has no --device flag '
                    '(its CUDA figures: loss-cuda)')
    out = work_dir / 'benchmark_losses.md'
    subprocess.run([sys.executable, str(REPO / 'tools' / 'benchmark_losses.py'), '--device',
                    'cuda', '--out', str(out)], check=True, cwd=REPO)
    return dict(result=f'tables in {out}')


def check_demo_data(work_dir: Path) -> dict:
    from apps.demo.demo_data import demo_sets

    roots = demo_sets(work_dir / 'data', profile='tiny', workers=min(8, os.cpu_count() or 1))
    return dict(result=f"tiny demo sets: {roots['coco']}, {roots['kitti']}")


def _train_demo(kind: str, config: str, data_root: Path, work_dir: Path, test: bool,
                iters: int = DEMO_ITERS) -> dict:
    """Train ``config`` for ``iters`` iterations where the Runner puts it (the GPU, where
    there is one) and test it if ``test``: the median step time (``step_ms``, iterations
    11 on), the test ``metrics`` and the ``device`` the model trained on."""
    import torch
    from mmengine.runner import Runner

    import rankdet.registration  # noqa: F401  registers RankKittiMetric, applies the fixes
    from apps.runner.fit_schedule import fit_schedule
    from apps.runner.runner_config import load_config

    cfg = load_config(str(REPO / config), work_dir=str(work_dir))
    if kind == '2d':
        from apps.runner.coco_data_root import point_at_data
        point_at_data(cfg, data_root / 'coco')
    else:
        import rankdet.models.sassd  # noqa: F401  registers the SA-SSD modules
        from apps.runner.kitti_data_root import with_data_root
        with_data_root(cfg, data_root / 'kitti')
    fit_schedule(cfg, iters)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None  # the test pass evaluates
    cfg.default_hooks.logger.interval = 10
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    if runner.iter != iters:
        raise RuntimeError(f'{config}: trained {runner.iter} of {iters} iterations')
    loss = runner.message_hub.get_scalar('train/loss').current()
    if not math.isfinite(loss):
        raise RuntimeError(f'{config}: training loss {loss}')
    step_ms = 1000 * statistics.median(runner.message_hub.get_scalar('train/time').data[0][10:])
    metrics = runner.test() if test else {}
    if test and not metrics:
        raise RuntimeError(f'{config}: the test pass returned no metrics')
    device = next(runner.model.parameters()).device
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return dict(step_ms=step_ms, metrics=metrics, device=device.type)


def check_demo(name: str, work_dir: Path) -> dict:
    kind, rank_config, focal_config = DEMOS[name]
    data_root = work_dir / 'data'
    rank = _train_demo(kind, rank_config, data_root, work_dir / name / 'rank', test=True)
    focal = _train_demo(kind, focal_config, data_root, work_dir / name / 'focal', test=False)
    for run, config in ((rank, rank_config), (focal, focal_config)):
        if run['device'] != 'cuda':
            raise RuntimeError(f'{config}: the model trained on {run["device"]}, not on CUDA')
    rank_ms, focal_ms, metrics = rank['step_ms'], focal['step_ms'], rank['metrics']
    key = next((k for k in metrics if k.endswith('bbox_mAP') or 'Car_3D_AP40_moderate' in k),
               sorted(metrics)[0])
    return dict(result=f'{DEMO_ITERS} iterations: ranking {rank_ms:.0f} ms/step, focal '
                       f'{focal_ms:.0f} ms/step ({rank_ms / focal_ms:.2f}x); test '
                       f'{key.split("/")[-1]} {metrics[key]:.3f}',
                figures=dict(rank_step_ms=rank_ms, focal_step_ms=focal_ms,
                             step_ratio=rank_ms / focal_ms))


def check_nccl(work_dir: Path) -> dict:
    import torch

    if torch.cuda.device_count() < 2:
        return dict(status='skip', result=f'{torch.cuda.device_count()} GPU: the 2-process '
                    f'NCCL launch needs 2')
    out = work_dir / 'nccl'
    env = dict(os.environ, SYNTHETIC_COCO_ROOT=f"{work_dir / 'data' / 'coco'}/",
               PYTHON=sys.executable, PORT=os.environ.get('PORT', '29561'))
    run = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(REPO / DEMOS['demo-retinanet'][1]),
         '2', '--work-dir', str(out), '--cfg-options', 'train_cfg.max_iters=10',
         'train_cfg.val_interval=100', 'default_hooks.logger.interval=5'],
        cwd=REPO, env=env, capture_output=True, text=True)
    sys.stdout.write(run.stdout + run.stderr)
    if run.returncode != 0:
        raise RuntimeError(f'dist_train.sh exited {run.returncode}: {_last_line(run.stderr)}')
    log = '\n'.join(p.read_text() for p in out.glob('*/*.log'))
    if 'Iter(train) [10/10]' not in log or "replaced by 'gloo'" in run.stderr:
        raise RuntimeError('the 2-process run did not train 10 iterations on NCCL')
    return dict(result='tools/dist_train.sh, 2 processes, NCCL: 10 iterations')


WORKERS: Dict[str, Callable[[Path], dict]] = {  # in the order they run
    'env': check_env, 'mmcv-nms': check_nms, 'mmcv-voxel': check_voxel,
    'spconv': check_spconv, 'loss-cuda': check_loss, 'demo-data': check_demo_data,
    **{name: (lambda work_dir, name=name: check_demo(name, work_dir)) for name in DEMOS},
    'nccl': check_nccl, 'benchmark': check_benchmark,
}
TIMEOUTS = {'env': 60, 'mmcv-nms': 60, 'mmcv-voxel': 60, 'spconv': 90, 'loss-cuda': 120,
            'benchmark': 180, 'demo-data': 120, 'demo-retinanet': 150, 'demo-atss': 150,
            'demo-sassd': 240, 'nccl': 150}
NEEDS = {'demo-retinanet': ('demo-data',), 'demo-atss': ('demo-data',),
         'demo-sassd': ('demo-data',), 'nccl': ('demo-data',)}


def default_checks(work_dir: Path, only: Optional[Sequence[str]] = None) -> List[Check]:
    names = [n for n in WORKERS if not only or n in only]
    return [Check(n, [sys.executable, str(Path(__file__).resolve()), '--worker', n,
                      '--work-dir', str(work_dir)], TIMEOUTS[n],
                  tuple(d for d in NEEDS.get(n, ()) if d in names)) for n in names]


def cuda_problem() -> Optional[str]:
    """Why this machine cannot run the checks, or None when it has a CUDA device."""
    import torch

    if torch.cuda.is_available():
        return None
    return (f'no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}, '
            f'CUDA build: {torch.version.cuda or "none"}). gpu-check checks the GPU '
            f'environment on a machine with an NVIDIA GPU, where `make setup` builds it '
            f'(tools/setup_env.sh, target gpu); nothing was run.')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', type=Path, default=None,
                        help='data, logs and runs (default: a new temporary folder)')
    parser.add_argument('--only', nargs='+', choices=sorted(WORKERS), default=None,
                        help='run these checks only')
    parser.add_argument('--budget-s', type=float, default=600,
                        help='seconds for all checks together')
    parser.add_argument('--json-out', type=Path, default=None,
                        help='also write the outcomes as JSON (for the README table)')
    parser.add_argument('--worker', choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument('--result', type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f'--budget-s must be > 0, got {args.budget_s}')
    if args.worker and (args.result is None or args.work_dir is None):
        parser.error('--worker needs --result and --work-dir')
    return args


def worker_main(args) -> None:
    data = WORKERS[args.worker](args.work_dir)
    from rankdet.atomic_write import atomic_write_text

    atomic_write_text(args.result, json.dumps(data))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    problem = cuda_problem()
    if problem:
        print(f'gpu-check: {problem}', file=sys.stderr)
        return 2
    import torch

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix='rankdet-gpu-check-'))
    work_dir.mkdir(parents=True, exist_ok=True)
    print(f'gpu-check {time.strftime("%Y-%m-%d %H:%M")}: {torch.cuda.get_device_name(0)}, '
          f'torch {torch.__version__}, CUDA {torch.version.cuda}; work dir {work_dir}',
          flush=True)
    outcomes = run_checks(default_checks(work_dir, args.only), args.budget_s,
                          work_dir / 'logs', lambda line: print(line, flush=True))
    print('\n' + render_table(outcomes))
    if args.json_out:
        from rankdet.atomic_write import atomic_write_text
        atomic_write_text(args.json_out, json.dumps(
            dict(date=time.strftime('%Y-%m-%d'), gpu=torch.cuda.get_device_name(0),
                 torch=torch.__version__, cuda=torch.version.cuda,
                 checks=[o.__dict__ for o in outcomes]), indent=1))
    code = exit_code(outcomes)
    print(f'\ngpu-check: {"all checks passed" if code == 0 else "FAILED"}')
    return code


if __name__ == '__main__':
    sys.exit(main())
