"""Write RGB images as PNG files, byte-for-byte reproducibly."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from rankdet.atomic_write import atomic_write_bytes


def write_png(path, image: np.ndarray) -> None:
    """Write ``uint8[H, W, 3]`` as a PNG (atomically). Pillow adds no time stamp or other
    varying chunk, so the same pixels give the same bytes. Light compression: noisy
    synthetic images shrink little more at higher levels, which take twice as long."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'write_png expects a uint8 array [H, W, 3], got {image.dtype} '
                         f'{image.shape}')
    buffer = io.BytesIO()
    Image.fromarray(image, mode='RGB').save(buffer, format='PNG', compress_level=1)
    atomic_write_bytes(path, buffer.getvalue())
