"""Arrows point down inside rankdet.models: SA-SSD's heads (3D) share the level helpers
with the 2D heads through rankdet.models.common, not by reaching into the 2D heads, and
the common pieces are plain torch. Read from the import statements of the source."""
import ast
from pathlib import Path

import pytest
import torch

MODELS = Path(__file__).resolve().parents[1] / 'rankdet' / 'models'


def imported_modules(path: Path):
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = ['rankdet'] + list(path.relative_to(MODELS.parent).parent.parts)
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            names.append('.'.join(base + ([node.module] if node.module else [])))
    return names


@pytest.mark.parametrize('path', sorted((MODELS / 'sassd').rglob('*.py')), ids=str)
def test_sassd_does_not_import_the_2d_heads(path):
    bad = [m for m in imported_modules(path) if m.startswith('rankdet.models.dense_heads')]
    assert not bad, f'{path.name} imports {bad}: put shared pieces in rankdet.models.common'


@pytest.mark.parametrize('path', sorted((MODELS / 'common').rglob('*.py')), ids=str)
def test_common_pieces_are_plain_torch(path):
    # rankdet.ranking is plain torch too (tests/test_import_cost.py checks it): RankingLoss
    # is built on it
    for module in imported_modules(path):
        top = module.split('.')[0]
        assert top in {'typing', 'torch', '__future__'} or module.startswith(
            ('rankdet.models.common', 'rankdet.ranking')), f'{path.name} imports {module}'


def test_the_resolver_sees_relative_imports():
    """The check above would pass vacuously if relative imports were misread."""
    names = imported_modules(MODELS / 'dense_heads' / 'ranking_targets.py')
    assert 'rankdet.models.common.levels' in names


def test_levels_flatten_in_target_order():
    maps = [torch.arange(2 * 6 * 2 * 3).float().reshape(2, 6, 2, 3),  # K=3 anchors, C=2
            torch.zeros(2, 6, 1, 1)]
    from rankdet.models.common import flatten_levels, level_index
    flat = flatten_levels(maps, 2)
    assert flat.shape == (2, 2 * 3 * 3 + 3, 2)
    # anchor (row 0, col 1, base 2) of image 1: channels 2*2 and 2*2+1 at (0, 1)
    assert flat[1, (0 * 3 + 1) * 3 + 2].tolist() == maps[0][1, 4:6, 0, 1].tolist()
    assert level_index([18, 3], torch.device('cpu')).tolist() == [0] * 18 + [1] * 3


# Applications still inside the library, to move out with issue 15's layout change; no
# other file under rankdet/ may import the tools or the data conversion.
APPLICATIONS_PENDING = ('rankdet/demo/', 'rankdet/evidence/')


LIBRARY = [p for p in sorted(MODELS.parent.rglob('*.py'))
           if not str(p.relative_to(MODELS.parents[1])).startswith(APPLICATIONS_PENDING)]


@pytest.mark.parametrize('path', LIBRARY, ids=str)
def test_the_library_does_not_import_tools_or_data_conversion(path):
    bad = [m for m in imported_modules(path) if m.split('.')[0] in ('tools', 'data_converters')]
    assert not bad, f'{path} imports {bad}'
