"""Cost of the ranking losses in SA-SSD: training step and inference, ranking vs focal.

Both models are built from their configs with the same weights and fed the same batch
(the train frames of ``--data-root`` through the config's train pipeline without its
random augmentations). Measured in one run:

- training step (forward, losses, backward, AdamW step): the fastest of ``--steps``
  steps after ``--warmup`` (other jobs on the machine only ever slow a step down), the
  two models interleaved; and the part of it in which the models differ, the head's
  forward, losses and backward on fixed features;
- peak memory of a training step: on CUDA ``max_memory_allocated`` above the memory
  allocated before the step; on the CPU, each model trains in a fresh process and the
  step's peak is the highest resident set size sampled during a step above the
  resident set size before it (after warm-up steps, freed memory trimmed), the median
  over ``--steps`` steps;
- inference (test mode, one frame at a time): each val frame's fastest of 3 runs,
  averaged over the frames.

The ranking losses exist only in training, so inference should be the same within
noise; the target for a training step is at most +10% time and memory. The table is
printed and written to ``--out`` (markdown).

    python tools/benchmark_3d.py --data-root ../shared/data/kitti_sample \\
        --out docs_pending/benchmark_3d.md
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FOCAL_CONFIG = REPO / 'configs3d' / 'sassd_pswarp_cpu-demo_synthetic-3d-car.py'
RANK_CONFIG = REPO / 'configs3d' / 'rank-sassd_pswarp_cpu-demo_synthetic-3d-car.py'
# train-pipeline steps kept for a fixed batch: no sampling, noise, flips or rotations
FIXED_STEPS = ('LoadPointsFromFile', 'LoadAnnotations3D', 'PointsRangeFilter',
               'ObjectRangeFilter', 'Pack3DDetInputs')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='../shared/data/kitti_sample',
                        help='KITTI-format root; converted to a temporary folder when it '
                             'has no kitti_infos_train.pkl')
    parser.add_argument('--focal-config', default=str(FOCAL_CONFIG))
    parser.add_argument('--rank-config', default=str(RANK_CONFIG))
    parser.add_argument('--frames', type=int, default=2, help='frames per training batch')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per model')
    parser.add_argument('--steps', type=int, default=10, help='timed steps per model')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (1: the fastest and steadiest on 2 '
                             'shared cores)')
    parser.add_argument('--out', type=Path, default=None, help='markdown table to write')
    parser.add_argument('--memory-worker', choices=['focal', 'rank'], help=argparse.SUPPRESS)
    parser.add_argument('--converted-root', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def setup(args, data_dir):
    """``(models {name: model}, train batch, val frames)`` with shared weights."""
    import torch

    import rankdet.registration  # noqa: F401  registers the modules, applies the fixes
    import rankdet.models.sassd  # noqa: F401
    from mmdet3d.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    from apps.runner.kitti_data_root import with_data_root
    from apps.runner.runner_config import load_config

    torch.set_num_threads(args.threads)
    MMLogger.get_instance('benchmark_3d', log_level='WARNING')  # no weight-init report
    init_default_scope('mmdet3d')
    cfgs = {}
    for name, path in (('focal', args.focal_config), ('rank', args.rank_config)):
        cfgs[name] = load_config(path)
        with_data_root(cfgs[name], data_dir)
    train_cfg = cfgs['focal'].train_dataloader.dataset.copy()
    train_cfg.pipeline = [t for t in train_cfg.pipeline if t['type'] in FIXED_STEPS]
    train_set = DATASETS.build(train_cfg)
    frames = [train_set[i % len(train_set)] for i in range(args.frames)]
    batch = pseudo_collate(frames)
    val_set = DATASETS.build(cfgs['focal'].test_dataloader.dataset)
    val_frames = [pseudo_collate([val_set[i]]) for i in range(len(val_set))]

    torch.manual_seed(0)
    models = {name: MODELS.build(cfg.model).to(args.device) for name, cfg in cfgs.items()}
    models['focal'].init_weights()
    models['rank'].load_state_dict(models['focal'].state_dict())
    return models, batch, val_frames


def sync(device):
    import torch

    if device.startswith('cuda'):
        torch.cuda.synchronize()


def make_step(model, batch, device):
    """A closure running one training step of ``model`` on ``batch``."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    model.train()

    def step():
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        loss = sum(v if torch.is_tensor(v) else sum(v) for k, v in losses.items()
                   if 'loss' in k)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10)
        optimizer.step()
        sync(device)
    return step


def time_training(models, batch, args):
    """Fastest training step per model (seconds), the models interleaved."""
    steps = {name: make_step(model, batch, args.device) for name, model in models.items()}
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for i in range(args.steps):
        order = list(steps) if i % 2 == 0 else list(steps)[::-1]
        for name in order:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def time_head(models, batch, args):
    """Fastest run (seconds) of the head's forward, losses and backward on fixed
    features: the only code in which the two models differ, without the rest."""
    import copy

    import torch

    runs = {}
    for name, model in models.items():
        model.train()
        data = model.data_preprocessor(batch, True)
        with torch.no_grad():
            feats, _ = model.extract_feat(data['inputs'], test_mode=False)
        feats = [f.detach().requires_grad_() for f in feats]
        runs[name] = (model.bbox_head, feats, data['data_samples'])
    times = {name: [] for name in runs}
    for i in range(args.warmup + args.steps):
        for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            head, feats, samples = runs[name]
            samples = copy.deepcopy(samples)  # the anchor targets rewrite the boxes
            start = time.perf_counter()
            losses = head.loss(feats, samples)
            sum(v if torch.is_tensor(v) else sum(v) for v in losses.values()).backward()
            sync(args.device)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def time_inference(models, val_frames, device, repeats: int = 3):
    """Seconds per frame in test mode: each frame's fastest of ``repeats`` runs, averaged
    over the frames; the models interleaved frame by frame."""
    import torch

    for model in models.values():
        model.eval()
    best = {name: [float('inf')] * len(val_frames) for name in models}
    with torch.no_grad():
        for name, model in models.items():  # warm-up
            model(**model.data_preprocessor(val_frames[0], False), mode='predict')
        for _ in range(repeats):
            for i, frame in enumerate(val_frames):
                for name, model in models.items():
                    start = time.perf_counter()
                    model(**model.data_preprocessor(frame, False), mode='predict')
                    sync(device)
                    best[name][i] = min(best[name][i], time.perf_counter() - start)
    return {name: statistics.mean(t) for name, t in best.items()}


def _rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class PeakRss:
    """The highest resident set size seen while the block runs (sampled every 0.2 ms
    by a thread; torch releases the GIL in its operators)."""

    def __enter__(self):
        self.peak, self._running = _rss_bytes(), True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(2e-4)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def memory_worker(args):
    """In a fresh process: one model's training-step peak above its resting memory."""
    import gc

    libc = ctypes.CDLL('libc.so.6')
    # a fixed mmap threshold (M_MMAP_THRESHOLD = -3): every block of 128 KiB or more is
    # mapped on allocation and unmapped on free, so the resident size follows the live
    # tensors instead of glibc's history-dependent heap
    libc.mallopt(-3, 128 * 1024)
    models, batch, _ = setup(args, Path(args.converted_root))
    step = make_step(models[args.memory_worker], batch, args.device)
    del models
    for _ in range(args.warmup):  # optimizer state and caches exist from here on
        step()
    rises = []
    for _ in range(args.steps):
        gc.collect()
        libc.malloc_trim(0)  # hand the small freed blocks back too: a true resting size
        resting = _rss_bytes()
        with PeakRss() as rss:
            step()
        rises.append(rss.peak - resting)
    print(json.dumps(dict(rise=statistics.median(rises))))


def cpu_step_memory(args, data_dir):
    """Peak minus resting resident memory of a training step, per model, in bytes."""
    result = {}
    for name in ('focal', 'rank'):
        cmd = [sys.executable, __file__, '--memory-worker', name,
               '--converted-root', str(data_dir), '--focal-config', args.focal_config,
               '--rank-config', args.rank_config, '--frames', str(args.frames),
               '--warmup', str(args.warmup), '--threads', str(args.threads),
               '--device', 'cpu']
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f'memory measurement of the {name} model failed:\n'
                               + done.stderr[-3000:])
        result[name] = json.loads(done.stdout.strip().splitlines()[-1])['rise']
    return result


def cuda_step_memory(models, batch, args):
    import torch

    result = {}
    for name, model in models.items():
        step = make_step(model, batch, args.device)
        step()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        result[name] = torch.cuda.max_memory_allocated() - base
    return result


def converted_root(data_root: Path, scratch: Path) -> Path:
    if (data_root / 'kitti_infos_train.pkl').is_file():
        return data_root
    from data_converters.kitti_converter import kitti_data_prep

    kitti_data_prep(data_root, out_dir=scratch / 'data', progress=False)
    return scratch / 'data'


def table(train, head, memory, infer, args, batch_voxels):
    def row(label, values, fmt):
        ratio = values['rank'] / values['focal'] - 1
        return (f'| {label} | {fmt(values["focal"])} | {fmt(values["rank"])} | '
                f'{ratio * 100:+.1f}% |')

    device = args.device if args.device != 'cpu' else (
        f'CPU, {args.threads} thread(s) of {os.cpu_count()} cores, '
        f'load average {os.getloadavg()[0]:.1f}')
    lines = [
        f'SA-SSD (PSWarp) training and inference cost, focal vs ranking; {device}; '
        f'{args.frames} frame(s) per training batch (~{batch_voxels} voxels); configs '
        f'`{Path(args.focal_config).name}` and `{Path(args.rank_config).name}`; data '
        f'`{args.data_root}`; Python {platform.python_version()}.',
        '',
        '| measure | focal baseline | ranking | ranking vs focal |',
        '|---|---|---|---|',
        row(f'training step, best of {args.steps} (ms)', train, lambda s: f'{s * 1e3:.0f}'),
        row(f'of which the head: forward, losses, backward, best of {args.steps} (ms)',
            head, lambda s: f'{s * 1e3:.1f}'),
        row(f'training step peak memory, median of {args.steps} (MiB)', memory,
            lambda b: f'{b / 2**20:.0f}'),
        row('inference per frame, best of 3 (ms)', infer, lambda s: f'{s * 1e3:.0f}'),
    ]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
    if args.memory_worker:
        memory_worker(args)
        return
    with tempfile.TemporaryDirectory(prefix='benchmark_3d_') as scratch:
        data_dir = converted_root(Path(args.data_root).resolve(), Path(scratch))
        models, batch, val_frames = setup(args, data_dir)
        voxels = models['focal'].data_preprocessor(batch, True)['inputs']['voxels']
        batch_voxels = voxels['voxels'].shape[0]
        train = time_training(models, batch, args)
        head = time_head(models, batch, args)
        infer = time_inference(models, val_frames, args.device)
        memory = (cuda_step_memory(models, batch, args) if args.device.startswith('cuda')
                  else cpu_step_memory(args, data_dir))
    text = table(train, head, memory, infer, args, batch_voxels)
    print(text)
    if args.out:
        from rankdet.atomic_write import atomic_write_text

        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
