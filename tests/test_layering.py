"""Arrows point down inside rankdet.models: SA-SSD's heads (3D) share the level helpers
with the 2D heads through rankdet.models.common, not by reaching into the 2D heads, and
the common pieces are plain torch. Read from the import statements of the source."""
import ast
import re
from pathlib import Path

import pytest
import torch
from source_imports import imported_modules

MODELS = Path(__file__).resolve().parents[1] / 'rankdet' / 'models'


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


LIBRARY = sorted(MODELS.parent.rglob('*.py'))
# the checkout's folders beside the library: the applications, the tools, the data
# conversion and the configs; the library imports none of them and builds no path into them
OUTSIDE_PACKAGES = ('apps', 'tools', 'data_converters')
CHECKOUT_PATH = re.compile(r'^/?(configs2d|configs3d|configs|tools|data_converters|apps)(/|$)')


def test_the_library_list_is_the_whole_package():
    """The checks below would pass vacuously on an empty or partial list."""
    names = {str(p.relative_to(MODELS.parent)) for p in LIBRARY}
    assert {'__init__.py', 'ranking/pairwise.py', 'visualization/frames.py'} <= names


@pytest.mark.parametrize('path', LIBRARY, ids=str)
def test_the_library_does_not_import_applications_tools_or_data_conversion(path):
    bad = [m for m in imported_modules(path) if m.split('.')[0] in OUTSIDE_PACKAGES]
    assert not bad, f'{path} imports {bad}: the library must not import {OUTSIDE_PACKAGES}'


def docstrings(tree):
    """The ids of the docstring nodes of ``tree``'s module, classes and functions."""
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree) if isinstance(node, owners)
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def levels_up(node):
    """How many folders above ``__file__`` the expression ``node`` climbs (0 for the file
    itself; ``Path(__file__).resolve().parents[2]`` climbs 3), None if it does not start
    from ``__file__``. Follows ``Path()``, ``resolve()``/``absolute()``, ``.parent``,
    ``.parents[k]`` and ``os.path.dirname``/``abspath``/``realpath``."""
    if isinstance(node, ast.Name):
        return 0 if node.id == '__file__' else None
    if isinstance(node, ast.Attribute) and node.attr == 'parent':
        inner = levels_up(node.value)
        return None if inner is None else inner + 1
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
            and node.value.attr == 'parents' and isinstance(node.slice, ast.Constant)):
        inner = levels_up(node.value.value)
        return None if inner is None else inner + node.slice.value + 1
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', None)
        if name in ('resolve', 'absolute') and isinstance(func, ast.Attribute):
            return levels_up(func.value)
        if name in ('Path', 'PurePath', 'abspath', 'realpath', 'dirname') and node.args:
            inner = levels_up(node.args[0])
            return None if inner is None else inner + (name == 'dirname')
    return None


def checkout_paths(source: str, path: Path):
    """What the code ``source`` of the library file ``path`` points at in the checkout
    (docstrings aside: they may name the checkout's files for the reader): string pieces
    that start with one of its folders, and ``__file__`` expressions that climb out of the
    package."""
    tree = ast.parse(source)
    skip = docstrings(tree)
    found = [repr(node.value) for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and id(node) not in skip and CHECKOUT_PATH.match(node.value)]
    # rankdet/a/b.py (3 parts) reaches the checkout's root by climbing 3 levels
    top = len(path.relative_to(MODELS.parents[1]).parts)
    found += [ast.unparse(node) for node in ast.walk(tree) if (levels_up(node) or 0) >= top]
    return found


def test_the_checkout_path_finder_sees_what_it_looks_for():
    """The check below would pass vacuously if the finder missed these forms (and it must
    leave docstrings, hints in messages and paths inside the package alone)."""
    source = '\n'.join([
        '"""A docstring naming configs2d/x.py and tools/vis3d.py is fine."""',
        'REPO = Path(__file__).resolve().parents[2]',
        'UP = Path(__file__).parent.parent.parent',
        'OLD = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))',
        "HERE = Path(__file__).resolve().parents[1] / 'data.json'",
        "CONFIGS = 'configs3d'",
        "CFG = f'{REPO}/configs2d/evidence/x.py'",
        "TOOL = REPO / 'tools' / 'vis3d.py'",
        "HINT = 'run tools/create_data.py first'"])
    found = checkout_paths(source, MODELS.parent / 'example' / 'module.py')
    assert sorted(found) == sorted([
        "'configs3d'", "'/configs2d/evidence/x.py'", "'tools'",
        'Path(__file__).resolve().parents[2]', 'Path(__file__).parent.parent.parent',
        'osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))'])


@pytest.mark.parametrize('path', LIBRARY, ids=str)
def test_the_library_builds_no_path_into_the_checkout(path):
    found = checkout_paths(path.read_text(), path)
    assert not found, (f'{path} points into the checkout ({found}): the library gets its '
                       f'paths from its callers (apps/, tools/)')
