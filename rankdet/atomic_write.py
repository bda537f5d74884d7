"""Write a file so that readers see either the old content or the new, never a part."""
import json
import math
import os
import uuid
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary file lives in the same folder so that the rename stays on one file
    system, where :func:`os.replace` is atomic. An interrupted write leaves no partial file.
    """
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
    try:
        with open(tmp, 'xb') as f:  # plain open: permissions follow the umask
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text (newlines written as ``\\n``)."""
    atomic_write_bytes(path, text.encode('utf-8'))


def nan_to_none(value):
    """``value`` with every non-finite float inside dicts, lists and tuples as None.

    Python's ``json`` would write the bare token ``NaN``, which strict JSON readers
    (browsers, ``jq``) reject.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [nan_to_none(item) for item in value]
    return value


def atomic_write_json(path, value, **dumps_kwargs) -> None:
    """:func:`atomic_write_text` of ``value`` as strict JSON (NaN and infinities as
    null); ``dumps_kwargs`` go to :func:`json.dumps` (``indent`` 2 unless given)."""
    dumps_kwargs.setdefault('indent', 2)
    atomic_write_text(path, json.dumps(nan_to_none(value), allow_nan=False, **dumps_kwargs))
