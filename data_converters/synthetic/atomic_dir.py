"""Build a dataset folder completely, then move it into place in one rename."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

# Written at the root of every generated set; only such folders may be overwritten.
MARKER = 'SYNTHETIC.json'


def build_atomically(target: Path, fill, overwrite: bool = False) -> Path:
    """Call ``fill(tmp)`` on an empty temporary folder beside ``target``, then rename it
    to ``target``, so that no reader ever sees half a set and a failure leaves nothing.

    An existing ``target`` is replaced only with ``overwrite`` and only if it holds
    :data:`MARKER` (a set written by rankdet's generators): a mistyped ``--out-dir`` must
    never delete real data.
    """
    target = Path(target)
    if target.exists():
        if not overwrite:
            raise FileExistsError(f'{target} exists; pass overwrite=True (--overwrite) to '
                                  f'replace a synthetic set, or choose another folder')
        if not (target / MARKER).is_file():
            raise FileExistsError(f'{target} exists and has no {MARKER}, so it is not a '
                                  f'set written by data_converters.synthetic; refusing to '
                                  f'replace it')
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f'.{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
    tmp.mkdir()  # not mkdtemp: the set keeps the umask's permissions, not 0700
    old = None
    try:
        fill(tmp)
        if not (tmp / MARKER).is_file():
            raise RuntimeError(f'the set built in {tmp} has no {MARKER}')
        if target.exists():
            old = tmp.with_name(tmp.name + '.old')
            target.rename(old)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not target.exists():
            old.rename(target)
            old = None
        raise
    if old is not None:
        shutil.rmtree(old)
    return target
