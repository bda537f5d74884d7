"""Top-level config keys that nothing reads (rankdet.config_keys, issue 14 item 9).

``trian_cfg = dict(...)`` is ignored by mmengine without a word; tools/train.py and
tools/test.py warn, naming the key and the nearest known one. No config of the project
may warn.
"""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip('mmdet')

from rankdet.config_keys import (READ_FROM_CFG, config_files,  # noqa: E402
                                 referenced_names, runner_keys, unknown_keys,
                                 warn_unknown_keys)
from apps.runner.runner_config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(str(path.relative_to(ROOT)) for folder in ('configs2d', 'configs3d')
                 for path in (ROOT / folder).rglob('*.py'))
DEMO_2D = ROOT / 'configs2d' / 'demo' / 'rank-retinanet_r18_fpn_demo_synthetic.py'


@pytest.mark.parametrize('config', CONFIGS)
def test_no_config_of_the_project_warns(config):
    """Every config in configs2d/ and configs3d/ (their bases too) loads without a
    warning about its keys."""
    cfg = load_config(str(ROOT / config))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert warn_unknown_keys(cfg) == []
    assert not [w for w in caught if 'top-level config key' in str(w.message)]


def child_config(tmp_path, body: str, base=DEMO_2D) -> str:
    path = tmp_path / 'child.py'
    path.write_text(f"_base_ = '{base}'\n{body}")
    return str(path)


def test_a_typo_warns_naming_the_nearest_key(tmp_path):
    cfg = load_config(child_config(tmp_path, 'trian_cfg = dict(max_iters=4)\n'))
    assert unknown_keys(cfg) == [('trian_cfg', 'train_cfg')]
    with pytest.warns(UserWarning, match=r"top-level config key 'trian_cfg' is read by "
                                         r"neither .* did you mean 'train_cfg'\?"):
        warn_unknown_keys(cfg)


def test_a_typo_in_cfg_options_warns_too(tmp_path):
    cfg = load_config(str(DEMO_2D), {'param_schedular': [], 'train_cfg.max_iters': 3})
    assert unknown_keys(cfg) == [('param_schedular', 'param_scheduler')]


def test_own_variables_are_known_and_unused_ones_are_not(tmp_path):
    """A variable the config (or a base) reads is known: the child's own ``my_scale``
    read by its pipeline, the base's ``data_root`` it redefines, a name read through
    ``{{_base_.x}}`` or ``_base_.x``. One that nothing reads warns, without a
    suggestion when no known key is near."""
    cfg = load_config(child_config(tmp_path, (
        "my_scale = (213, 128)\n"
        "train_pipeline = [dict(type='Resize', scale=my_scale)]\n"
        "data_root = 'elsewhere/'\n"
        "backend_args = {{_base_.backend_args}}\n"
        "test_pipeline = _base_.test_pipeline\n"
        "zzz_unused_thing = 3\n")))
    assert unknown_keys(cfg) == [('zzz_unused_thing', None)]
    names = referenced_names(cfg.filename)
    assert {'my_scale', 'backend_args', 'test_pipeline'} <= names
    assert 'zzz_unused_thing' not in names


def test_bases_are_followed_to_mmdet():
    """The chain of a rankdet config reaches mmdet's own bases (``mmdet::``), whose
    variables (``vis_backends``) are read there."""
    files = config_files(DEMO_2D)
    assert files[0] == str(DEMO_2D)
    assert any('mmdet' in f and f.endswith('default_runtime.py') for f in files[1:])
    assert any('vis_backends' in referenced_names(f) for f in files)


def test_runner_keys_come_from_mmengine():
    """Runner.__init__'s parameters (what Runner.from_cfg reads) plus the keys read from
    the whole config elsewhere."""
    import inspect

    from mmengine.runner import Runner

    keys = runner_keys()
    params = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
    assert params <= keys and READ_FROM_CFG <= keys
    assert {'train_cfg', 'default_scope', 'env_cfg', 'randomness', 'launcher', 'resume',
            'load_from', 'log_level', 'custom_imports'} <= keys


def test_tools_train_prints_the_warning(tmp_path):
    """tools/train.py on a config with ``trian_cfg`` prints a warning naming
    ``train_cfg``, then trains as usual (0 iterations here: only the warning matters)."""
    from data_converters.synthetic import CocoShapesConfig, generate_coco

    sizes = CocoShapesConfig(num_train=2, num_val=1, min_size=64, max_size=64)
    data = generate_coco(tmp_path / 'coco', sizes, progress=False)
    config = child_config(tmp_path, 'trian_cfg = dict(max_iters=1)\n')
    done = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'train.py'), config, '--work-dir',
         str(tmp_path / 'work'), '--cfg-options', 'train_cfg.max_iters=0', 'val_cfg=None',
         'val_dataloader=None', 'val_evaluator=None'],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, 'SYNTHETIC_COCO_ROOT': f'{data}/'})
    assert done.returncode == 0, done.stderr[-4000:]
    assert ("top-level config key 'trian_cfg' is read by neither mmengine's Runner nor "
            "the config's own variables: it has no effect; did you mean 'train_cfg'?"
            in done.stderr), done.stderr[-4000:]
