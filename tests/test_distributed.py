"""Multi-process training through torchrun and mmengine's launcher, on CPU (gloo).

- rankdet.compat.cpu_distributed lets mmengine's launcher and DDP wrapper run without CUDA.
- The ranking heads (RankRetinaHead, RankATSSHead, RankPSWarpHead) give, after one
  forward and backward on 2 processes of 2 images each under MMDistributedDataParallel,
  the gradients of one process that sees all 4 images (tests/dist_scripts/head_gradients.py
  says how, and why on fixed features).
- tools/dist_train.sh trains the 2D synthetic demo with 2 processes and writes a
  checkpoint and a COCO metric; tools/dist_test.sh evaluates it with 2 processes.
- Every worker of both launches has destroyed its process group, and joined gloo's
  threads, before the interpreter exits (an exit probe, tests/dist_scripts/exit_probe/,
  says so), and the test launch passes again and again under CPU load that starves those
  threads (the load that used to abort a worker with SIGABRT as it exited).
- Killing one worker stops the launcher with an error naming its rank; ``--resume``
  continues from the last checkpoint.

Each launch starts 2 Python processes that import mmdet (several seconds each on two
cores): the inputs are tiny (images of 128-160 pixels shown at short side 128, batch 1).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')
pytest.importorskip('pycocotools')
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip('torch.distributed with gloo is needed', allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
CONFIG_2D = ROOT / 'configs2d' / 'demo' / 'rank-retinanet_r18_fpn_demo_synthetic.py'
LAUNCH_TIMEOUT_S = 300
SMALL = '(213,128)'  # (long, short) side limits of mmdet's Resize
TRAIN_OPTIONS = [
    'train_dataloader.batch_size=1',
    f'train_dataloader.dataset.pipeline.2.scale={SMALL}',
    'train_dataloader.dataset.pipeline.3.prob=0.0',
    f'val_dataloader.dataset.pipeline.1.scale={SMALL}',
    'default_hooks.logger.interval=1', 'log_processor.window_size=1',
]
# the branches the ranking losses must reach, per case of head_gradients.py
HEAD_LAYERS = {
    'rank_retinanet_2d': ('retina_cls.weight', 'retina_reg.weight'),
    'rank_atss_2d': ('atss_cls.weight', 'atss_reg.weight', 'atss_centerness.weight'),
    'rank_sassd_3d': ('conv_cls.weight', 'conv_reg.weight'),
}
TOLERANCE = 1e-5
# sitecustomize.py of the exit probe: each worker reports its process group and threads
EXIT_PROBE = ROOT / 'tests' / 'dist_scripts' / 'exit_probe'
# test launches under load per run of the suite (tools' fix: 10 in a row by hand)
LOAD_REPEATS = int(os.environ.get('RANKDET_DIST_LOAD_REPEATS', '2'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch_env(**extra) -> dict:
    # the scripts run this interpreter; PORT is their master port
    return dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), **extra)


def run(command, env, cwd):
    """Run a launch to its end; its output (stdout and stderr) in the failure message.

    ``cwd`` a temporary folder: mmengine gathers distributed results in ./.dist_test."""
    result = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=LAUNCH_TIMEOUT_S)
    assert result.returncode == 0, f'{command[:3]} failed:\n{result.stdout[-6000:]}'
    return result.stdout


@pytest.fixture(scope='module')
def synthetic_coco(tmp_path_factory):
    """A synthetic COCO-format set: 4 training and 3 validation images of 128-160 px."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('make_synthetic',
                                                  ROOT / 'tools' / 'make_synthetic.py')
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path_factory.mktemp('synthetic')
    cli.main(['coco', '--out-dir', str(out), '--num-train', '4', '--num-val', '3',
              '--image-size', '128', '160', '--no-progress'])
    return out / 'coco'


def run_logs(work_dir: Path):
    """{timestamp folder: log text} of the runs in an mmengine work dir."""
    return {path.parent.name: path.read_text() for path in work_dir.glob('*/*.log')}


def logged_iterations(log: str):
    return [int(i) for i in re.findall(r'Iter\(train\) \[\s*(\d+)/\d+\]', log)]


# ------------------------------------------------------------------ the CPU launcher fix
@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA, mmengine's own code runs")
def test_mmengine_launcher_and_ddp_run_without_cuda(monkeypatch):
    """rankdet.compat.cpu_distributed, in one process of world size 1: mmengine's pytorch
    launcher asked for NCCL (as the runtime configs do) starts gloo, and its DDP wrapper
    given device ids (as ``Runner.wrap_model`` does) wraps a CPU module. Unpatched, the
    first raises on ``torch.cuda.set_device`` and the second on the device ids."""
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel

    import rankdet.registration  # noqa: F401  applies the fix
    for key, value in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), RANK='0',
                           LOCAL_RANK='0', WORLD_SIZE='1').items():
        monkeypatch.setenv(key, value)
    # the function init_dist calls (init_dist itself would also set the process-wide
    # multiprocessing start method)
    with pytest.warns(UserWarning, match="replaced by 'gloo'"):
        dist_utils._init_dist_pytorch('nccl')
    try:
        assert torch.distributed.get_backend() == 'gloo'
        model = MMDistributedDataParallel(module=torch.nn.Linear(3, 2), device_ids=[0],
                                          broadcast_buffers=False)
        model(torch.ones(4, 3)).sum().backward()
        torch.testing.assert_close(model.module.weight.grad, torch.full((2, 3), 4.0))
        del model  # before its process group goes
    finally:
        torch.distributed.destroy_process_group()


# --------------------------------------------------------------------------- gradients
@pytest.fixture(scope='module')
def head_gradients(tmp_path_factory):
    """The gradients written by tests/dist_scripts/head_gradients.py on 2 processes."""
    out = tmp_path_factory.mktemp('head_gradients')
    run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_port', str(free_port()),
         str(ROOT / 'tests' / 'dist_scripts' / 'head_gradients.py'), str(out)],
        env=dict(os.environ), cwd=out)
    return out


@pytest.mark.parametrize('case', sorted(HEAD_LAYERS))
def test_head_gradients_match_one_process(case, head_gradients):
    """P=2 processes x B=2 images under DDP == 1 process x 4 images, for every parameter
    of the head: to 1e-5 relative, plus 1e-5 of the head's largest gradient (float32
    sums over a batch of 4 and over 2 + 2 round differently: a bias whose gradient
    nearly cancels is off by 1e-5 of its own size). The split gives one rank 2 images
    with positives and the other 1, so a per-process mean over images (``naive``) would
    differ: the check is asserted to fail on it."""
    results = [torch.load(head_gradients / f'{case}_rank{rank}.pt') for rank in (0, 1)]
    reference = results[0]['reference']
    for layer in HEAD_LAYERS[case]:
        assert reference[layer].abs().max() > 0, f'{case}: no gradient reaches {layer}'
    tolerance = dict(rtol=TOLERANCE,
                     atol=TOLERANCE * max(g.abs().max().item() for g in reference.values()))
    for name, expected in reference.items():
        for rank, result in enumerate(results):
            torch.testing.assert_close(result['distributed'][name], expected, **tolerance,
                                       msg=lambda m: f'{case} rank {rank} {name}: {m}')
    naive = results[0]['naive']
    assert not all(torch.allclose(naive[name], expected, **tolerance)
                   for name, expected in reference.items()), \
        f'{case}: per-process normalisation passes the check too: the test cannot fail'


# --------------------------------------------------------------- dist_train / dist_test
def probed_env(probe_dir: Path, **extra) -> dict:
    """launch_env with the exit probe: every worker writes what it holds at exit (its
    last atexit handler, just before interpreter shutdown) to ``probe_dir``."""
    probe_dir.mkdir(parents=True, exist_ok=True)
    env = launch_env(RANKDET_EXIT_PROBE_DIR=str(probe_dir), **extra)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(EXIT_PROBE),
                                                      env.get('PYTHONPATH')]))
    return env


def assert_clean_exits(probe_dir: Path, output: str):
    """Both workers exited with their process group destroyed and gloo's threads joined:
    only the main thread left. A worker that still holds them at shutdown is the one
    that may die with 'terminate called without an active exception'."""
    reports = [json.loads(path.read_text()) for path in sorted(probe_dir.glob('*.json'))]
    assert sorted(r['rank'] for r in reports) == ['0', '1'], \
        f'exit reports {reports} (a worker that did not reach exit?):\n{output[-6000:]}'
    for report in reports:
        assert not report['process_group'] and report['threads'] == ['MainThread'], \
            f"rank {report['rank']} exits holding its process group / threads: {report}"
    assert 'terminate called' not in output, output[-6000:]


@pytest.fixture(scope='module')
def dist_trained(synthetic_coco, tmp_path_factory):
    """2 processes train 4 iterations (a checkpoint, then validation): ``(work dir,
    launch output, exit probe folder)``. The work dir has a space in its name: the
    scripts pass arguments through intact."""
    root = tmp_path_factory.mktemp('dist_train')
    work_dir = root / 'work dir'
    probe = root / 'exit_probe'
    output = run(['bash', str(ROOT / 'tools' / 'dist_train.sh'), str(CONFIG_2D), '2',
                  '--work-dir', str(work_dir), '--cfg-options', 'train_cfg.max_iters=4',
                  'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
                  *TRAIN_OPTIONS],
                 probed_env(probe, SYNTHETIC_COCO_ROOT=f'{synthetic_coco}/'), cwd=root)
    return work_dir, output, probe


def dist_test_command(checkpoint: Path, test_dir: Path, results: Path):
    return ['bash', str(ROOT / 'tools' / 'dist_test.sh'), str(CONFIG_2D), str(checkpoint),
            '2', '--work-dir', str(test_dir), '--out', str(results), '--cfg-options',
            f'test_dataloader.dataset.pipeline.1.scale={SMALL}']


def assert_all_predicted(results: Path, synthetic_coco: Path):
    # 3 images on 2 processes: the sampler pads one rank; the results are not doubled
    import pickle

    ann = json.loads((synthetic_coco / 'annotations' / 'instances_val2017.json').read_text())
    with open(results, 'rb') as f:
        predicted = sorted(sample['img_id'] for sample in pickle.load(f))
    assert predicted == sorted(image['id'] for image in ann['images'])


def test_dist_train_then_dist_test(dist_trained, synthetic_coco, tmp_path):
    """2 processes train (the fixture), then 2 processes test the checkpoint: a COCO
    metric, every validation image predicted once; every worker of both launches ends
    with its process group destroyed."""
    work_dir, output, train_probe = dist_trained
    if not torch.cuda.is_available():
        assert "replaced by 'gloo'" in output  # rankdet.compat.cpu_distributed at work
    checkpoint = work_dir / 'iter_4.pth'
    assert checkpoint.is_file()
    (log,) = run_logs(work_dir).values()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert logged_iterations(log) == [1, 2, 3, 4]
    assert re.search(r'Iter\(val\).*coco/bbox_mAP: ', log)
    assert_clean_exits(train_probe, output)

    test_dir = tmp_path / 'test'
    results = tmp_path / 'results.pkl'
    probe = tmp_path / 'exit_probe'
    output = run(dist_test_command(checkpoint, test_dir, results),
                 probed_env(probe, SYNTHETIC_COCO_ROOT=f'{synthetic_coco}/'), cwd=tmp_path)
    (metrics_file,) = test_dir.glob('*/*.json')
    metrics = json.loads(metrics_file.read_text())
    for key in ('mAP', 'mAP_50', 'mAP_75'):
        assert 0 <= metrics[f'coco/bbox_{key}'] <= 1
    (log,) = run_logs(test_dir).values()
    assert 'GPU number: 2' in log
    assert_all_predicted(results, synthetic_coco)
    assert_clean_exits(probe, output)


def starve_workers(psutil, launcher_pid: int, cpus: list):
    """Pin each worker of the launch to one core and put its threads other than the
    main one (gloo's) at nice 19: beside a busy loop on that core they hardly run, so a
    collective's worker thread lags far behind the main thread, as on a loaded machine."""
    for process in launched(psutil, launcher_pid):
        try:
            rank = process.environ().get('LOCAL_RANK')
            if rank is None or 'torch.distributed.run' in ' '.join(process.cmdline()):
                continue  # bash and torchrun's agent
            process.cpu_affinity([cpus[int(rank) % len(cpus)]])
            for thread in process.threads():
                if thread.id != process.pid:
                    os.setpriority(os.PRIO_PROCESS, thread.id, 19)
        except (psutil.Error, OSError):
            pass  # a thread or process that has just ended


def run_under_load(command, env, cwd, output: Path) -> int:
    """Run a launch beside one busy-loop process per core, its workers starved
    (:func:`starve_workers`): the launch's exit status; its output in ``output``."""
    psutil = pytest.importorskip('psutil')
    cpus = sorted(os.sched_getaffinity(0))
    busy = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in cpus]
    for cpu, process in zip(cpus, busy):
        os.sched_setaffinity(process.pid, {cpu})
    try:
        with open(output, 'w') as out:
            launcher = subprocess.Popen(command, env=env, cwd=cwd, stdout=out,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + LAUNCH_TIMEOUT_S
        while launcher.poll() is None and time.monotonic() < deadline:
            starve_workers(psutil, launcher.pid, cpus)
            time.sleep(0.05)
        if launcher.poll() is None:  # past the deadline: end what it started
            for process in reversed(launched(psutil, launcher.pid)):
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass
            launcher.wait()
            pytest.fail(f'no end after {LAUNCH_TIMEOUT_S} s:\n{output.read_text()[-6000:]}')
        return launcher.returncode
    finally:
        for process in busy:
            process.kill()
            process.wait()


def test_dist_test_exits_cleanly_under_load(dist_trained, synthetic_coco, tmp_path):
    """tools/dist_test.sh, again and again, with every core busy and gloo's threads
    starved: every launch ends with status 0, no worker aborts at exit ('terminate
    called without an active exception', SIGABRT: a gloo worker thread still releasing a
    collective's tensors when the interpreter shuts down), and every worker has
    destroyed its process group first. Before tools/test.py destroyed it, about one
    launch in three failed this way under this load (10 in a row pass now; the suite
    runs RANKDET_DIST_LOAD_REPEATS, default 2)."""
    work_dir, _, _ = dist_trained
    checkpoint = work_dir / 'iter_4.pth'
    for attempt in range(LOAD_REPEATS):
        folder = tmp_path / f'attempt{attempt}'
        probe = folder / 'exit_probe'
        results = folder / 'results.pkl'
        output = folder / 'output.txt'
        returncode = run_under_load(
            dist_test_command(checkpoint, folder / 'test', results),
            probed_env(probe, SYNTHETIC_COCO_ROOT=f'{synthetic_coco}/'), folder, output)
        text = output.read_text()
        assert returncode == 0, f'attempt {attempt + 1}: exit status {returncode}:\n' \
                                f'{text[-6000:]}'
        assert_clean_exits(probe, text)
        assert_all_predicted(results, synthetic_coco)


# ------------------------------------------------------------------ failure and resume
def wait_for(path: Path, process: subprocess.Popen, output: Path, timeout: float):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f'training ended early:\n{output.read_text()[-6000:]}'
        assert time.monotonic() < deadline, f'no {path.name} after {timeout} s'
        time.sleep(0.2)


def launched(psutil, pid):
    """The process ``pid`` and its descendants that are still there."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_killed_worker_stops_launcher_and_resume_continues(synthetic_coco, tmp_path):
    """SIGKILL rank 1 after the first checkpoint: torchrun stops every worker and exits
    non-zero; its failure report lists rank 1 killed by signal 9 (rank 0, whose
    collective then breaks, is listed too, as the root cause or beside it). Then
    ``--resume`` continues at the checkpoint's iteration + 1."""
    psutil = pytest.importorskip('psutil')
    env = launch_env(SYNTHETIC_COCO_ROOT=f'{synthetic_coco}/')
    work_dir = tmp_path / 'work'
    options = [*TRAIN_OPTIONS, 'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
               'default_hooks.checkpoint.interval=2']
    output = tmp_path / 'killed.txt'
    with open(output, 'w') as out:
        launcher = subprocess.Popen(
            ['bash', str(ROOT / 'tools' / 'dist_train.sh'), str(CONFIG_2D), '2',
             '--work-dir', str(work_dir), '--cfg-options', 'train_cfg.max_iters=10000',
             *options], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    workers = []
    try:
        wait_for(work_dir / 'last_checkpoint', launcher, output, LAUNCH_TIMEOUT_S)
        # the workers: the children of torchrun (bash's child, or bash itself if it execs)
        (agent,) = [p for p in launched(psutil, launcher.pid)
                    if 'torch.distributed.run' in p.cmdline()]
        workers = agent.children()
        ranks = {p.environ().get('RANK'): p for p in workers}
        assert sorted(ranks) == ['0', '1'], f'workers: {ranks}'
        ranks['1'].send_signal(signal.SIGKILL)
        returncode = launcher.wait(timeout=LAUNCH_TIMEOUT_S)
    finally:
        if launcher.poll() is None:  # the test failed: end what it started
            for process in reversed(launched(psutil, launcher.pid)):
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass
            launcher.wait()
    report = output.read_text()
    assert returncode != 0, report[-6000:]
    assert 'ChildFailedError' in report and 'Root Cause' in report, report[-6000:]
    assert re.search(r'rank\s*: 1 \(local_rank: 1\)\s*\n\s*exitcode\s*: -9', report), \
        report[-6000:]
    for worker in workers:  # the launcher left no worker behind
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE

    saved = Path((work_dir / 'last_checkpoint').read_text().strip())
    saved_iter = int(re.fullmatch(r'iter_(\d+)\.pth', saved.name).group(1))
    assert saved_iter >= 2
    earlier_runs = set(run_logs(work_dir))
    target = saved_iter + 2
    run(['bash', str(ROOT / 'tools' / 'dist_train.sh'), str(CONFIG_2D), '2',
         '--work-dir', str(work_dir), '--resume', '--cfg-options',
         f'train_cfg.max_iters={target}', *options],
        launch_env(SYNTHETIC_COCO_ROOT=f'{synthetic_coco}/'), cwd=tmp_path)
    (resumed,) = [log for name, log in run_logs(work_dir).items() if name not in earlier_runs]
    assert f'resumed epoch: 0, iter: {saved_iter}' in resumed
    assert logged_iterations(resumed) == [saved_iter + 1, saved_iter + 2]
    assert (work_dir / f'iter_{target}.pth').is_file()
