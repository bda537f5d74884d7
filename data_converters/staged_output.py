"""Write a converter's products into a hidden staging folder, then move them into place.

A conversion writes many files (reduced scans, a database of object points, info
pickles). If it stops half-way, on bad input or Ctrl-C, the output folder must not hold a
mix of new and missing files that a later training run would silently read. Everything
is therefore written under ``<out_dir>/.<name>.<pid>.tmp`` (the same file system, so
that each move is an atomic rename) and only after the last file is complete does
:meth:`StagedOutput.publish` move each product to its final path, replacing an older one.
On error the staging folder is deleted and the output folder is as it was.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


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
        self.root = self.out_dir / f'.{self._name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp'
        self.root.mkdir()
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
        old = dst.with_name(f'.{dst.name}.{uuid.uuid4().hex[:8]}.old')
        dst.rename(old)
        try:
            src.rename(dst)
        except BaseException:
            old.rename(dst)
            raise
        shutil.rmtree(old)
    else:
        os.replace(src, dst)
