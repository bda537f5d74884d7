"""Write a converter's products into a hidden staging folder, then move them into place.

A conversion writes many files (reduced scans, a database of object points, info
pickles). If it stops half-way, on bad input or Ctrl-C, the output folder must not hold a
mix of new and missing files that a later training run would silently read. Everything
is therefore written under ``<out_dir>/.<name>.<pid>.<hex>.tmp`` (the same file system,
so that each move is an atomic rename) and only after the last file is complete does
:meth:`StagedOutput.publish` move each product to its final path, replacing an older one.
On error the staging folder is deleted and the output folder is as it was.

A process killed with SIGKILL (or by a power cut) cannot delete its staging folder, which
may hold gigabytes. Each new run therefore removes the staging folders, and the
``.<product>.<pid>.<hex>.old`` folders of an interrupted swap, left by processes that no
longer run (:func:`remove_stale`). A folder is left alone while its process may still
run: while its pid runs on this machine (since this machine last started), and always
when the folder was made on another machine (its ``owner.json`` names the host), since
no pid there can be checked from here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import uuid
from pathlib import Path

OWNER_FILE = 'owner.json'  # in each staging folder: host, boot and pid of its process


class StagedOutput:
    """Context manager: ``with StagedOutput(out_dir, products) as stage: ...``.

    Args:
        out_dir: the folder the products belong to (created if missing).
        products: paths relative to ``out_dir`` (files or folders) that the conversion
            writes under ``stage.root`` and that :meth:`publish` moves into place. Only
            these are moved; a product that was not written is an error.
    """

    def __init__(self, out_dir, products, name: str = 'create_data'):
        self.out_dir = Path(out_dir)
        self.products = [Path(p) for p in products]
        for product in self.products:
            if product.is_absolute() or '..' in product.parts:
                raise ValueError(f'a product must be a path inside out_dir, got {product}')
        self._name = name
        self._created_out_dir = False
        self.root: Path | None = None

    def __enter__(self) -> StagedOutput:
        if not self.out_dir.exists():
            self.out_dir.mkdir(parents=True)
            self._created_out_dir = True
        remove_stale(self.out_dir, self._name, self.products)
        self.root = self.out_dir / f'.{self._name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp'
        self.root.mkdir()
        (self.root / OWNER_FILE).write_text(json.dumps(_this_owner()))
        return self

    def path(self, relative) -> Path:
        """Where to write ``relative`` while staging (its parent folder exists)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def folder(self, relative) -> Path:
        """Create the folder ``relative`` in the staging folder and return its path."""
        path = self.root / relative
        path.mkdir(parents=True, exist_ok=True)
        return path

    def publish(self) -> None:
        """Move every product from the staging folder to its place in ``out_dir``."""
        missing = [str(p) for p in self.products if not (self.root / p).exists()]
        if missing:
            raise RuntimeError(f'conversion finished without writing {missing}')
        for product in self.products:
            _replace(self.root / product, self.out_dir / product)

    def __exit__(self, exc_type, exc, tb) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        if exc_type is not None and self._created_out_dir:
            try:
                self.out_dir.rmdir()  # only if the failed run left it empty
            except OSError:
                pass


def _replace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; an existing folder ``dst`` is swapped out first and
    deleted only once the new one is in place."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and dst.exists():
        old = dst.with_name(f'.{dst.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.old')
        dst.rename(old)
        try:
            src.rename(dst)
        except BaseException:
            old.rename(dst)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


# ---- leftovers of killed runs ----

def _boot_id() -> str | None:
    try:
        return Path('/proc/sys/kernel/random/boot_id').read_text().strip()
    except OSError:
        return None


def _this_owner() -> dict:
    return dict(host=socket.gethostname(), boot_id=_boot_id(), pid=os.getpid())


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    return stat[stat.rindex(')') + 2:].startswith('Z')


def pid_running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (a zombie does not run)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    except OverflowError:
        return False
    return not _zombie(pid)


def _owner_gone(path: Path, pid: int) -> bool:
    """Whether the process that made the leftover ``path`` surely no longer runs."""
    try:
        owner = json.loads((path / OWNER_FILE).read_text())
    except (OSError, ValueError):
        owner = None  # no record (killed right after mkdir, or an older rankdet): ours
    if isinstance(owner, dict):
        if owner.get('host') != socket.gethostname():
            return False  # another machine's pid cannot be checked from here
        if owner.get('boot_id') and _boot_id() and owner['boot_id'] != _boot_id():
            return True  # made before this machine restarted
    # A reused pid keeps a stale folder until that process ends: the safe side (process
    # start times and file times come from clocks that may be stepped in between).
    return not pid_running(pid)


def remove_stale(out_dir, name: str, products=()) -> list[Path]:
    """Delete the staging folders ``.<name>.<pid>.<hex>.tmp`` in ``out_dir`` and the
    swap folders ``.<product>.<pid>.<hex>.old`` beside ``products`` that were left by
    processes that no longer run; return what was deleted (each one is also reported
    on stderr, with its size)."""
    out_dir = Path(out_dir)
    patterns = {out_dir: [re.compile(rf'\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp')]}
    for product in products:
        parent = out_dir / Path(product).parent
        patterns.setdefault(parent, []).append(
            re.compile(rf'\.{re.escape(Path(product).name)}\.(\d+)\.[0-9a-f]{{8}}\.old'))
    removed = []
    for folder, regexes in patterns.items():
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            match = next((m for m in (r.fullmatch(entry.name) for r in regexes) if m), None)
            if match is None or not entry.is_dir() or entry.is_symlink():
                continue
            if not _owner_gone(entry, int(match.group(1))):
                continue
            size = sum(f.stat().st_size for f in entry.rglob('*') if f.is_file())
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                removed.append(entry)
                print(f'removed {entry} ({size / 1e6:.1f} MB), left by process '
                      f'{match.group(1)}, which no longer runs', file=sys.stderr)
    return removed
