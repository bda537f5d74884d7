"""Shared fixtures: the real sample data beside the project (../shared/data)."""
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
