"""Whether a synthetic set on disk was written with given settings, so that ``make demo``
(:mod:`apps.demo.demo_data`) and ``tools/compare.py`` (:mod:`apps.evidence.evidence_data`)
reuse a set only when it is the one they ask for, and have it rebuilt otherwise.

It reads the record the generators write (``SYNTHETIC.json``, data_converters.synthetic's
``MARKER``). It lives here, in the applications' shared code, rather than beside the
generators, because reusing a set is the applications' decision (the generators only
write, and refuse to overwrite a folder they did not write), and these two are its only
users.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from data_converters.synthetic.atomic_dir import MARKER


def same_synthetic_record(root, cfg) -> bool | None:
    """Whether the set at ``root`` was generated with ``cfg`` (a ``CocoShapesConfig`` or
    ``KittiSceneConfig``); None if ``root`` holds no synthetic-set record, and a
    ValueError naming the record when it cannot be read."""
    marker = Path(root) / MARKER
    if not marker.is_file():
        return None
    try:
        recorded = json.loads(marker.read_text())['config']
    except (ValueError, KeyError) as error:
        raise ValueError(f'{marker}: not a rankdet synthetic-set record ({error}); '
                         f'delete {root} to have it rebuilt') from error
    return recorded == json.loads(json.dumps(asdict(cfg)))  # tuples read back as lists
