"""Write a file so that readers see either the old content or the new, never a part."""
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
