"""``pair_ratios.json``: a pair analysis's numbers as strict JSON.

A ratio without pairs (P-N or P-P of a set without them) and a Spearman correlation of
fewer than two positives are NaN; Python's ``json`` would write the bare token ``NaN``,
which strict JSON readers (browsers, ``jq``) reject. They are written as ``null``.
"""
from pathlib import Path

from rankdet.atomic_write import atomic_write_json

RATIOS_FILE = 'pair_ratios.json'


def write_ratios_file(result: dict, out_dir) -> Path:
    """Write ``result`` to ``out_dir/pair_ratios.json`` (NaN as null, atomically)."""
    path = Path(out_dir) / RATIOS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, result)
    return path
