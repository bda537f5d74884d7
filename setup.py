"""rankdet: RankDetNet ranking losses on MMDetection 3 and MMDetection3D 1.4.

`make test` / `make demo` (tools/setup_env.sh) is the supported way to install: it builds
mmcv 2.1.0 with its CPU ops and installs mmdet3d 1.4.0 without its `open3d` requirement,
neither of which a plain `pip install` can express. Exact versions are pinned in
requirements/constraints.txt.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name):
    """Requirement lines of requirements/<name>, without comments."""
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.split('#')[0].strip() for ln in lines if ln.split('#')[0].strip()]


setup(
    name='rankdet',
    version='0.1.0',
    description='RankDetNet ranking losses for MMDetection and MMDetection3D',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8')
    if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.11,<3.12',
    packages=find_packages(include=['rankdet', 'rankdet.*', 'data_converters',
                                    'data_converters.*', 'apps', 'apps.*']),
    install_requires=['torch==2.13.0'] + read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
)
