"""Shared fixtures: the real sample data beside the project (../shared/data); and the
``cuda`` marker: a test marked ``@pytest.mark.cuda`` runs only where torch sees a CUDA
device and is skipped elsewhere (the GPU checks: tests/test_gpu_*.py); and registry scopes
kept per test (``DEFAULT_SCOPE``)."""
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / 'shared' / 'data'


def _sample(name):
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f'sample data {path} is absent (it lives beside the project in '
                    f'../shared/data; a user clone has none)')
    return path


@pytest.fixture(scope='session')
def coco128_root():
    """../shared/data/coco128: 128 real COCO images with their official json."""
    return _sample('coco128')


@pytest.fixture(scope='session')
def kitti_sample_root():
    """../shared/data/kitti_sample: 6 labelled and 6 unlabelled real KITTI frames."""
    return _sample('kitti_sample')


def pytest_configure(config):
    config.addinivalue_line('markers', 'cuda: needs a CUDA device (skipped without one)')


def pytest_collection_modifyitems(config, items):
    marked = [item for item in items if item.get_closest_marker('cuda')]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f'needs a CUDA device: torch {torch.__version__} sees none '
                                   f'(torch.cuda.is_available() is False)')
    for item in marked:
        item.add_marker(skip)


@pytest.fixture(autouse=True)
def _registry_scope(request):
    """Each test runs in the registry scope its module names in ``DEFAULT_SCOPE`` (e.g.
    ``'mmdet'`` for a module that builds with ``mmdet.registry.DATASETS``), and no test
    leaves a scope to the next: mmengine's current scope is the last one created, so a
    3D test that called ``register_all_modules`` made the 2D tests after it build in
    ``mmdet3d`` (``CheckedCocoDataset is not in the mmdet3d::dataset registry``) in
    the full suite only."""
    scope = getattr(request.module, 'DEFAULT_SCOPE', None)
    if scope is None and 'mmengine.registry' not in sys.modules:
        yield  # nothing has imported mmengine's registries yet: no scope to keep
        return
    from mmengine.registry import DefaultScope

    saved = DefaultScope._instance_dict.copy()
    try:
        if scope is None:
            yield
        else:
            with DefaultScope.overwrite_default_scope(scope):
                yield
    finally:
        DefaultScope._instance_dict = saved
