"""Every command-line tool parses its arguments before importing torch and OpenMMLab.

``python tools/X.py --help`` and a wrong flag answer at once (importing torch, mmengine,
mmdet and rankdet takes 8-16 s on two cores). Checked on what is imported, not on a
time: each tool runs in a fresh interpreter under ``-X importtime``, which lists every
module it imports, and none of the heavy packages may be among them.
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = sorted(path.name for path in (ROOT / 'tools').glob('*.py'))
# rankdet imports torch (and mmdet's registries); data_converters imports rankdet
HEAVY = {'torch', 'mmengine', 'mmcv', 'mmdet', 'mmdet3d', 'open3d', 'spconv', 'rankdet',
         'data_converters'}


def imported_packages(importtime_stderr: str) -> set:
    """Top-level packages of the modules listed by ``-X importtime`` (its lines read
    ``import time: self | cumulative | name``)."""
    packages = set()
    for line in importtime_stderr.splitlines():
        if line.startswith('import time:') and line.count('|') == 2:
            name = line.rsplit('|', 1)[1].strip()
            packages.add(name.split('.')[0])
    return packages


def run_tool(name: str, *args):
    return subprocess.run([sys.executable, '-X', 'importtime', str(ROOT / 'tools' / name),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_importtime_lists_what_a_tool_imports():
    """The check can fail: a submodule imported by a script counts as its package
    (``email.mime.text`` as ``email``, as ``torch.nn`` would as ``torch``)."""
    done = subprocess.run([sys.executable, '-X', 'importtime', '-c',
                           'import email.mime.text'], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'email' in imported_packages(done.stderr)
    assert 'torch' not in imported_packages(done.stderr)


@pytest.mark.parametrize('tool', TOOLS)
def test_help_and_a_wrong_flag_answer_before_heavy_imports(tool):
    shown = run_tool(tool, '--help')
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert shown.stdout.startswith('usage:'), shown.stdout[:500]
    assert not imported_packages(shown.stderr) & HEAVY, \
        f'tools/{tool} --help imports {sorted(imported_packages(shown.stderr) & HEAVY)}'

    wrong = run_tool(tool, '--no-such-flag')
    assert wrong.returncode == 2, (wrong.returncode, wrong.stderr[-3000:])
    assert 'error:' in wrong.stderr
    assert not imported_packages(wrong.stderr) & HEAVY, \
        f'tools/{tool} --no-such-flag imports {sorted(imported_packages(wrong.stderr) & HEAVY)}'


@pytest.mark.parametrize('tool', ['train.py', 'test.py', 'analyze_pairs.py'])
def test_cfg_options_are_checked_when_parsed(tool):
    """``--cfg-options`` items must read KEY=VALUE: said by the parser, before imports."""
    args = ['config.py', 'checkpoint.pth'] if tool != 'train.py' else ['config.py']
    done = run_tool(tool, *args, '--cfg-options', 'train_cfg.max_iters')
    assert done.returncode == 2
    assert "expected KEY=VALUE, got 'train_cfg.max_iters'" in done.stderr
    assert not imported_packages(done.stderr) & HEAVY


def load_tool(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name.replace('.', '_'), ROOT / 'tools' / name)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_cfg_options_read_as_mmengine_reads_them():
    """The values after parsing are those of mmengine's DictAction, item by item, and
    repeated ``--cfg-options`` flags add up as DictAction's do."""
    import argparse

    from mmengine.config import DictAction

    items = ['a.b=1', 'c=[1,2]', 'd=(3,4)', "e='x'", 'f=None', 'g=True', 'h=0.5', 'i=x,y',
             'j=[(1,2),(3,4)]', 'a.b=2']
    reference = argparse.ArgumentParser()
    reference.add_argument('--cfg-options', nargs='+', action=DictAction)
    expected = reference.parse_args(['--cfg-options', *items[:5], '--cfg-options',
                                     *items[5:]]).cfg_options
    for name in ('train.py', 'test.py', 'analyze_pairs.py'):
        tool = load_tool(name)
        positional = ['config.py'] if name == 'train.py' else ['config.py', 'model.pth']
        args = tool.parse_args([*positional, '--cfg-options', *items[:5], '--cfg-options',
                                *items[5:]])
        assert tool.cfg_options_dict(args.cfg_options) == expected, name
        assert tool.cfg_options_dict(tool.parse_args(positional).cfg_options) is None


def test_make_synthetic_defaults_are_the_configs():
    """make_synthetic.py's options default to None, that is to data_converters.synthetic's
    config defaults: the tool without options writes what the configs' defaults do."""
    from data_converters.synthetic import CocoShapesConfig, KittiSceneConfig

    tool = load_tool('make_synthetic.py')
    args = tool.parse_args(['all'])
    assert tool.coco_config(args) == CocoShapesConfig(seed=0)
    assert tool.kitti_config(args) == KittiSceneConfig(seed=0)
    args = tool.parse_args(['coco', '--image-size', '100', '150', '--num-classes', '3',
                            '--seed', '4'])
    assert tool.coco_config(args) == CocoShapesConfig(min_size=100, max_size=150,
                                                      num_classes=3, seed=4)


def test_compare_profiles_are_the_library_ones():
    """tools/compare.py restates the evidence profiles (to parse before importing rankdet);
    they must be the library's."""
    from apps.evidence.experiments import PROFILES

    assert load_tool('compare.py').PROFILES == PROFILES
