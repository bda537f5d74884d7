"""tools/setup_env.sh: which environment it builds (cpu or gpu: nvidia-smi, or the
RANKDET_TARGET variable), its refusals, and the GPU pins of requirements/constraints-gpu.txt
beside the CPU ones. Nothing is installed: `--plan` prints the choice and stops, and the
refusals come before any installation."""
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'tools' / 'setup_env.sh'
REQ = ROOT / 'requirements'
BASH = shutil.which('bash')


def fake_bin(tmp_path, nvidia_smi=None):
    """A PATH with the tools the script's planning needs and, if given, a fake nvidia-smi
    (a shell body), but no real one."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    for tool in ('dirname', 'grep', 'cat', 'sha256sum', 'cut', 'date', 'dpkg-query',
                 'python3.11', 'tr', 'sed'):
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    smi = bin_dir / 'nvidia-smi'
    smi.unlink(missing_ok=True)
    if nvidia_smi is not None:
        smi.write_text('#!/bin/sh\n' + nvidia_smi + '\n')
        smi.chmod(0o755)
    return str(bin_dir)


def run_setup(tmp_path, *args, nvidia_smi=None, target=None, venv=None):
    env = {k: v for k, v in os.environ.items() if k != 'RANKDET_TARGET'}
    env['PATH'] = fake_bin(tmp_path, nvidia_smi)
    env['RANKDET_VENV'] = str(venv or tmp_path / 'venv')
    if target is not None:
        env['RANKDET_TARGET'] = target
    return subprocess.run([BASH, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=60)


H200 = 'echo "GPU 0: NVIDIA H200 (UUID: GPU-0f6a3c1e-aaaa-bbbb-cccc-123456789abc)"'
NO_DRIVER = ('echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA '
             'driver." >&2; exit 9')


@pytest.mark.parametrize('nvidia_smi, target, expected', [
    (None, None, 'target: cpu (no NVIDIA GPU found'),
    (NO_DRIVER, None, 'target: cpu (no NVIDIA GPU found'),
    ('exit 0', None, 'target: cpu (no NVIDIA GPU found'),  # lists no GPU
    (H200, None, 'target: gpu (nvidia-smi lists an NVIDIA GPU)'),
    (H200, 'auto', 'target: gpu (nvidia-smi lists an NVIDIA GPU)'),
    (H200, 'cpu', 'target: cpu (forced by RANKDET_TARGET=cpu)'),
    (None, 'gpu', 'target: gpu (forced by RANKDET_TARGET=gpu)'),
])
def test_plan_picks_the_target(tmp_path, nvidia_smi, target, expected):
    run = run_setup(tmp_path, '--plan', nvidia_smi=nvidia_smi, target=target)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(expected)
    assert lines[1] == f'venv: {tmp_path / "venv"}'
    if 'target: gpu' in expected:
        assert 'requirements/constraints-gpu.txt' in lines[2]
    else:
        assert lines[2] == 'constraints: requirements/constraints.txt'
    assert not (tmp_path / 'venv').exists()


@pytest.mark.parametrize('args, target, message', [
    (['--plan'], 'cuda', "RANKDET_TARGET='cuda' is not a set-up target; expected cpu, gpu "
                         "or auto"),
    (['--fast'], None, "unknown argument '--fast'"),
])
def test_bad_settings_fail_before_any_work(tmp_path, args, target, message):
    run = run_setup(tmp_path, *args, target=target)
    assert run.returncode == 2 and message in run.stderr
    assert not (tmp_path / 'venv').exists()


def fake_venv(tmp_path, torch_version):
    """A venv folder holding only the dist-info of a torch build (no interpreter)."""
    venv = tmp_path / 'old-venv'
    (venv / 'lib' / 'python3.11' / 'site-packages' / f'torch-{torch_version}.dist-info'
     ).mkdir(parents=True)
    return venv


def apt_packages_present():
    script = SCRIPT.read_text()
    names = re.search(r'^APT_PACKAGES="([^"]+)"', script, re.M).group(1).split()
    for name in names:
        out = subprocess.run(['dpkg-query', '-W', '-f=${Status}', name], capture_output=True,
                             text=True)
        if 'install ok installed' not in out.stdout:
            return False
    return True


needs_apt = pytest.mark.skipif(
    shutil.which('dpkg-query') is None or not apt_packages_present(),
    reason="the set-up's Debian packages are not installed: the script would install them")


@needs_apt
@pytest.mark.parametrize('installed, nvidia_smi, keep', [
    ('2.13.0', None, 'gpu'),       # a GPU environment, and nvidia-smi finds no GPU now
    ('2.13.0+cpu', H200, 'cpu'),   # a CPU environment on a machine with a GPU
])
def test_auto_never_throws_away_the_other_targets_environment(tmp_path, installed,
                                                              nvidia_smi, keep):
    venv = fake_venv(tmp_path, installed)
    run = run_setup(tmp_path, nvidia_smi=nvidia_smi, venv=venv)
    assert run.returncode == 1
    assert f'holds the {keep} environment' in run.stderr
    assert f'RANKDET_TARGET={keep} keeps it' in run.stderr
    assert (venv / 'lib').is_dir()  # untouched


@needs_apt
def test_a_matching_stamp_means_up_to_date(tmp_path):
    venv = tmp_path / 'venv'
    venv.mkdir()
    inputs = [SCRIPT, ROOT / 'setup.py', *sorted(REQ.glob('*.txt'))]
    digest = hashlib.sha256(b''.join(p.read_bytes() for p in inputs)).hexdigest()
    (venv / '.rankdet-setup').write_text(f'gpu {digest}\n')
    for target, smi in (('gpu', None), (None, H200)):
        run = run_setup(tmp_path, target=target, nvidia_smi=smi, venv=venv)
        assert run.returncode == 0, run.stderr
        assert f'environment up to date ({venv}, gpu)' in run.stdout
    # the stamp stands for the gpu target only: for cpu the script goes on, here to its
    # refusal to replace the GPU environment it finds (nothing is installed)
    (venv / 'lib' / 'python3.11' / 'site-packages' / 'torch-2.13.0.dist-info').mkdir(
        parents=True)
    run = run_setup(tmp_path, venv=venv)
    assert run.returncode == 1 and 'environment up to date' not in run.stdout
    assert 'holds the gpu environment' in run.stderr


# --- the pins ---------------------------------------------------------------------------

def pins(path):
    """{normalised name: (operator, version)} of a constraints file."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split('#')[0].strip()
        if not line:
            continue
        match = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)\s*(===|==)\s*(\S+)', line)
        assert match, f'{path.name}: {line!r} is not an exact pin'
        out[re.sub(r'[-_.]+', '-', match.group(1)).lower()] = match.group(2, 3)
    return out


def script_setting(name):
    return re.search(rf'^{name}="([^"]+)"', SCRIPT.read_text(), re.M).group(1)


def test_gpu_pins_replace_exactly_the_cpu_builds():
    cpu, gpu = pins(REQ / 'constraints.txt'), pins(REQ / 'constraints-gpu.txt')
    replaced = script_setting('GPU_REPLACES').split()
    assert set(replaced) <= set(cpu), 'the script drops pins constraints.txt does not have'
    assert cpu['torch'] == ('==', '2.13.0+cpu')
    # the only shared name is torch, pinned to PyPI's CUDA build (=== excludes +cpu)
    assert set(cpu) & set(gpu) == {'torch'} and gpu['torch'] == ('===', '2.13.0')
    # the CUDA builds of spconv and cumm stand for the CPU ones: same CUDA flavour
    spconv_gpu = script_setting('SPCONV_GPU')
    flavour = spconv_gpu.split('-')[1]
    assert spconv_gpu in gpu and f'cumm-{flavour}' in gpu
    assert gpu[spconv_gpu][1] == cpu['spconv'][1]  # spconv 2.3.8 in both
    assert gpu[f'cumm-{flavour}'][1].split('.')[:2] == cpu['cumm'][1].split('.')[:2]
    # runtime.txt carries the spconv line the GPU branch rewrites
    assert re.search(r'^spconv==', (REQ / 'runtime.txt').read_text(), re.M)


def test_gpu_compiler_matches_torchs_cuda():
    gpu = pins(REQ / 'constraints-gpu.txt')
    toolkit = gpu['cuda-toolkit'][1]  # what torch 2.13.0 asks for: cuda-toolkit==13.0.3
    major_minor = toolkit.split('.')[:2]
    for name in ('nvidia-cuda-nvcc', 'nvidia-cuda-runtime', 'nvidia-cuda-crt', 'nvidia-nvvm',
                 'nvidia-cuda-cccl', 'nvidia-cuda-nvrtc', 'nvidia-nvjitlink'):
        assert gpu[name][1].split('.')[:2] == major_minor, name
    cu_suffixed = [n for n in gpu if re.search(r'-cu\d+$', n) and n.startswith('nvidia-')]
    assert cu_suffixed and all(n.endswith(f'-cu{major_minor[0]}') for n in cu_suffixed)
