"""Rewriting the paths of a config that start with one folder to start with another
(pointing a config at a data set: :mod:`apps.runner.kitti_data_root`, and the evidence
jobs' test split: ``apps.evidence.job.point_test_at``)."""
from __future__ import annotations

__all__ = ['reroot']


def reroot(value, old: str, new: str):
    """``value`` (a config value: dicts, lists and tuples nested in any way) with every
    string that starts with ``old`` starting with ``new`` instead; other values as they
    are. Containers are rebuilt with their own types; ``value`` is not changed."""
    if isinstance(value, dict):
        return type(value)({k: reroot(v, old, new) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return type(value)(reroot(v, old, new) for v in value)
    if isinstance(value, str) and value.startswith(old):
        return new + value[len(old):]
    return value
