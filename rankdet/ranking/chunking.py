"""Bounded-memory sums over pair matrices too large to hold at once.

Forward and backward of a pairwise loss over ``[K, P, N]`` pairs would keep every pair
term alive for backward. Summing chunks of the N axis under activation checkpointing
keeps one chunk's terms at a time: backward recomputes each chunk from its inputs.
"""
from typing import Callable, Sequence

from torch import Tensor
from torch.utils.checkpoint import checkpoint


def chunked_sum(fn: Callable[..., Tensor], chunked: Sequence[Tensor],
                fixed: Sequence[Tensor], dim: int, chunk_size: int) -> Tensor:
    """``sum_i fn(*chunk_i(chunked), *fixed)`` over chunks of ``dim``, one chunk in memory.

    Args:
        fn: maps the chunked tensors, then the fixed ones, to a tensor of fixed shape.
        chunked: tensors cut into pieces of ``chunk_size`` along ``dim``.
        fixed: tensors passed whole to every call.
        dim: the axis to cut; every tensor of ``chunked`` has the same size along it.
        chunk_size: the largest piece (>= 1). A single piece runs without checkpointing.
    """
    size = chunked[0].shape[dim]
    if chunk_size >= size:
        return fn(*chunked, *fixed)
    total = None
    for start in range(0, size, chunk_size):
        length = min(chunk_size, size - start)
        pieces = [t.narrow(dim, start, length) for t in chunked]
        part = checkpoint(fn, *pieces, *fixed, use_reentrant=False)
        total = part if total is None else total + part
    return total
