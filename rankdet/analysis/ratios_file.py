"""``pair_ratios.json``: a pair analysis's numbers as strict JSON.

A ratio without pairs (P-N or P-P of a set without them) and a Spearman correlation of
fewer than two positives are NaN; Python's ``json`` would write the bare token ``NaN``,
which strict JSON readers (browsers, ``jq``) reject. They are written as ``null``.
"""
import json
import math
from pathlib import Path

from rankdet.atomic_write import atomic_write_text

RATIOS_FILE = 'pair_ratios.json'


def nan_to_none(value):
    """``value`` with every non-finite float inside dicts, lists and tuples as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [nan_to_none(item) for item in value]
    return value


def write_ratios_file(result: dict, out_dir) -> Path:
    """Write ``result`` to ``out_dir/pair_ratios.json`` (NaN as null, atomically)."""
    path = Path(out_dir) / RATIOS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(nan_to_none(result), indent=2, allow_nan=False))
    return path
