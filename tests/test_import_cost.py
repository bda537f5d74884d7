"""What each import of rankdet loads (issue 15): ``import rankdet.ranking`` is plain
PyTorch, ``import rankdet`` registers nothing, and ``import rankdet.registration`` (what
configs name in ``custom_imports``) registers everything and applies the stack fixes.

Each check runs in a fresh interpreter and reads ``sys.modules``, not a timing: which
packages got imported is what the cost comes from (README, "Import cost").
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from source_imports import imported_modules

ROOT = Path(__file__).resolve().parents[1]
OPENMMLAB = ('mmengine', 'mmcv', 'mmdet', 'mmdet3d', 'spconv')


def loaded_after(statement: str):
    """Top-level package names and all module names in ``sys.modules`` after
    ``statement`` in a new interpreter that imports rankdet from this checkout."""
    code = f'{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))'
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, f'{statement}\n-> {run.stderr[-3000:]}'
    modules = json.loads(run.stdout.strip().splitlines()[-1])
    return {m.split('.')[0] for m in modules}, set(modules)


def test_ranking_loads_no_openmmlab_package():
    top, modules = loaded_after('import rankdet.ranking')
    assert 'rankdet.ranking' in modules  # the statement did import it
    assert not top & set(OPENMMLAB), sorted(top & set(OPENMMLAB))
    assert not top & {'matplotlib', 'scipy', 'sklearn', 'pandas'}


def test_rankdet_registers_nothing():
    top, modules = loaded_after('import rankdet')
    assert 'rankdet' in modules
    assert not top & set(OPENMMLAB), sorted(top & set(OPENMMLAB))
    assert not {m for m in modules if m.startswith('rankdet.')}, 'rankdet imported more'


def test_registration_registers_and_fixes_the_stack():
    """The counter-check of the two above: the registering import does load mmdet's
    models and registers rankdet's modules in every registry it names."""
    pytest.importorskip('mmdet3d')
    statement = '\n'.join([
        'import numpy as np',
        'import rankdet.registration',
        'from mmdet.registry import DATASETS, METRICS, MODELS',
        'from mmdet3d.registry import MODELS as MODELS3D, METRICS as METRICS3D',
        'from mmengine.registry import HOOKS',
        'import spconv.pytorch.ops as ops',
        "assert MODELS.get('RankRetinaHead') and MODELS.get('RankATSSHead')",
        "assert MODELS.get('RankingLoss') and MODELS3D.get('RankingLoss')",
        "assert MODELS3D.get('RankPSWarpHead') and MODELS3D.get('SASSDDetector')",
        "assert DATASETS.get('CheckedCocoDataset') and METRICS.get('RankCocoMetric')",
        "assert METRICS3D.get('RankKittiMetric') and HOOKS.get('RankingHealthHook')",
        "assert hasattr(np, 'long')",
        "assert getattr(ops.SpconvOps, '_rankdet_scatter_add_patch', False)",
        'import rankdet.compat as compat',
        'compat.apply_all()  # a second call changes nothing',
        "assert getattr(ops.SpconvOps, '_rankdet_scatter_add_patch', False)",
        "assert ops.SpconvOps.__mro__[1].__name__ == 'SpconvOps', 'patched twice'",
    ])
    top, modules = loaded_after(statement)
    assert 'mmdet.models' in modules and 'rankdet.models.sassd' in modules


def test_config_builds_a_model_through_customimported_modules():
    """A config read in a fresh interpreter that never imports rankdet itself: its
    ``custom_imports`` (rankdet.registration) registers the head the model names."""
    config = ROOT / 'configs2d' / 'demo' / 'rank-retinanet_r18_fpn_demo_synthetic.py'
    statement = '\n'.join([
        'from mmengine.config import Config',
        'from mmengine.registry import init_default_scope',
        'from mmdet.registry import MODELS',
        f'cfg = Config.fromfile({str(config)!r})',
        "init_default_scope('mmdet')",
        'model = MODELS.build(cfg.model)',
        "assert type(model.bbox_head).__name__ == 'RankRetinaHead'",
        "assert type(model.bbox_head.loss_rank).__name__ == 'RankingLoss'",
    ])
    _, modules = loaded_after(statement)
    assert 'rankdet.registration' in modules


RANKING = sorted((ROOT / 'rankdet' / 'ranking').glob('*.py'))


@pytest.mark.parametrize('path', RANKING, ids=lambda p: p.name)
def test_ranking_source_imports_only_torch_and_itself(path):
    allowed = {'typing', 'torch', '__future__', 'math', 'dataclasses', 'functools'}
    for module in imported_modules(path):
        assert module.split('.')[0] in allowed or module.startswith('rankdet.ranking'), \
            f'{path.name} imports {module}'


def test_the_resolver_sees_relative_imports():
    """The check above would pass vacuously if relative imports were misread."""
    source = ROOT / 'rankdet' / 'ranking' / 'class_loss.py'
    assert 'rankdet.ranking.validation' in imported_modules(source)
