"""tools/gpu_check.py (`make gpu-check`): what runs without CUDA: the orchestration of
the checks (real processes: pass, fail, time-out, unmet needs, spent budget), the table
and exit codes, the tolerance helper, and the refusal on a machine without CUDA. The
checks themselves run on a GPU (`make gpu-check`; tests/test_gpu_ops.py)."""
import importlib.util
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_gpu_check():
    spec = importlib.util.spec_from_file_location('rankdet_gpu_check',
                                                  ROOT / 'tools' / 'gpu_check.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gc = load_gpu_check()


def script_check(name, body, timeout_s=20.0, needs=()):
    """A check whose process runs ``body`` (Python) with ``result`` = the result path."""
    code = 'import json, sys, time\nresult = sys.argv[-1]\n' + textwrap.dedent(body)
    return gc.Check(name, [sys.executable, '-c', code], timeout_s, needs)


def write_result(text, status='ok', figures=None):
    return f'json.dump(dict(status={status!r}, result={text!r}, figures={figures or {}!r}), ' \
           f'open(result, "w"))\n'


def test_outcomes_of_passing_failing_and_skipped_checks(tmp_path):
    checks = [
        script_check('good', write_result('all fine', figures={'ratio': 0.5})),
        script_check('skipped', write_result('needs 2 GPUs', status='skip')),
        script_check('raises', 'raise RuntimeError("voxels differ between CUDA and CPU")'),
        script_check('silent', 'pass'),  # exits 0 without a result
        script_check('after-bad', write_result('never'), needs=('raises',)),
        script_check('after-good', write_result('ran'), needs=('good',)),
    ]
    lines = []
    outcomes = gc.run_checks(checks, 120, tmp_path / 'logs', lines.append)
    got = {o.name: o for o in outcomes}
    assert [o.name for o in outcomes] == [c.name for c in checks]
    assert (got['good'].status, got['good'].result, got['good'].figures) == \
        ('ok', 'all fine', {'ratio': 0.5})
    assert got['skipped'].status == 'skip'
    assert got['raises'].status == 'FAIL'
    assert 'exit 1: RuntimeError: voxels differ between CUDA and CPU' in got['raises'].result
    assert 'Traceback' in (tmp_path / 'logs' / 'raises.log').read_text()
    assert got['silent'].status == 'FAIL' and 'no result' in got['silent'].result
    assert got['after-bad'].status == 'FAIL'
    assert got['after-bad'].result == 'not run: needs raises'
    assert got['after-good'].status == 'ok'
    assert any(line.startswith('[gpu-check] raises: FAIL') for line in lines)
    assert gc.exit_code(outcomes) == 1
    assert gc.exit_code([got['good'], got['skipped'], got['after-good']]) == 0

    table = gc.render_table(outcomes).splitlines()
    assert table[0] == '| check | status | seconds | result |'
    assert len(table) == 2 + len(checks)
    assert table[2].startswith('| good | ok | ') and table[2].endswith(' | all fine |')


def running(pid):
    """True while ``pid`` runs (a killed process no one has reaped yet is a zombie)."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    return stat.rsplit(')', 1)[1].split()[0] != 'Z'


def test_a_check_past_its_time_is_killed_with_its_children(tmp_path):
    pid_file = tmp_path / 'child.pid'
    hang = script_check('hang', f'''
        import subprocess
        child = subprocess.Popen(['sleep', '60'])
        open({str(pid_file)!r}, 'w').write(str(child.pid))
        time.sleep(60)
        ''', timeout_s=3)
    start = time.monotonic()
    outcome, = gc.run_checks([hang], 120, tmp_path / 'logs', lambda line: None)
    assert time.monotonic() - start < 20
    assert outcome.status == 'FAIL' and outcome.result.startswith('timed out after 3 s')
    child = int(pid_file.read_text())
    for _ in range(50):  # the kill may take a moment to land
        if not running(child):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f'the check\'s child process {child} survived the time-out')


def test_the_budget_bounds_all_checks(tmp_path):
    checks = [script_check('slow', 'time.sleep(60)', timeout_s=100),
              script_check('next', write_result('never'))]
    start = time.monotonic()
    slow, nxt = gc.run_checks(checks, 2, tmp_path / 'logs', lambda line: None)
    assert time.monotonic() - start < 20
    assert slow.status == 'FAIL' and slow.result.startswith('timed out after 2 s')
    assert nxt.status == 'FAIL' and nxt.result == 'not run: the 2 s budget was spent'


def test_default_checks_run_every_demo_after_its_data():
    checks = gc.default_checks(Path('/tmp/w'))
    names = [c.name for c in checks]
    assert names[0] == 'env' and set(names) == set(gc.WORKERS)
    for demo in ('demo-retinanet', 'demo-atss', 'demo-sassd', 'nccl'):
        check = checks[names.index(demo)]
        assert check.needs == ('demo-data',) and names.index('demo-data') < names.index(demo)
    assert sum(gc.TIMEOUTS[n] for n in ('env', 'mmcv-nms', 'mmcv-voxel', 'spconv')) < 600
    only = gc.default_checks(Path('/tmp/w'), only=['demo-atss'])
    assert [c.name for c in only] == ['demo-atss'] and only[0].needs == ()
    assert only[0].argv[-4:] == ['--worker', 'demo-atss', '--work-dir', '/tmp/w']


def test_relative_tolerance_helper():
    a = torch.linspace(1, 2, 1000)
    gc._assert_close(a * (1 + 1e-4), a, 'x')
    with pytest.raises(AssertionError, match=r'x: CUDA differs from CPU by 1\.0e-02'):
        gc._assert_close(a * 1.01, a, 'x')
    with pytest.raises(AssertionError, match='shape'):
        gc._assert_close(a[:10], a, 'x')
    with pytest.raises(AssertionError):
        gc._assert_close(torch.full((3,), float('nan')), torch.ones(3), 'nan')


@pytest.mark.parametrize('argv, message', [
    (['--budget-s', '0'], '--budget-s must be > 0'),
    (['--worker', 'env'], '--worker needs --result and --work-dir'),
    (['--only', 'nonsense'], 'invalid choice'),
])
def test_bad_arguments_fail_clearly(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gc.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_without_cuda_it_says_so_and_runs_nothing(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / 'tools' / 'gpu_check.py'), '--work-dir',
                          str(tmp_path / 'w')], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert 'gpu-check: no CUDA device: torch.cuda.is_available() is False' in run.stderr
    assert 'nothing was run' in run.stderr and not (tmp_path / 'w').exists()


def test_benchmark_row_without_a_device_flag(tmp_path):
    if gc.benchmark_has_device_flag():
        pytest.skip('tools/benchmark_losses.py has --device: the row runs it on a GPU')
    data = gc.check_benchmark(tmp_path)
    assert data['status'] == 'skip' and 'no --device flag' in data['result']
    assert json.loads(json.dumps(data)) == data
