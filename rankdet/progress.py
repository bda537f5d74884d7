"""Progress lines with an estimate of the time left, printed only for long work.

Dataset checks and evaluations run for milliseconds on the demo sets and for minutes on
COCO or KITTI. :class:`Progress` keeps the short runs silent and tells the long ones
how far they are::

    COCO evaluation (per-image matching): 52000/200000 (26%), 20 s, about 57 s left
    COCO evaluation (per-image matching): done, 200000 in 77 s

Nothing is printed before ``quiet_s`` seconds have passed, then a line at most every
``every_s`` seconds, and a closing line only when an earlier line was printed. Lines
(not a carriage-return bar) so that a log file holds a readable record. The time left
is a linear extrapolation of the rate so far.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def format_duration(seconds: float) -> str:
    """``'8 s'``, ``'3 min 20 s'``, ``'2 h 05 min'``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f'{seconds} s'
    if seconds < 3600:
        return f'{seconds // 60} min {seconds % 60:02d} s'
    return f'{seconds // 3600} h {seconds % 3600 // 60:02d} min'


class Progress:
    """Count units of work; for long work, print how far it is and the time left.

    Args:
        total: units of work expected (``>= 0``).
        desc: what is being done, the start of every line.
        echo: called with each line; default: print to stderr.
        quiet_s: seconds before the first line (work done sooner prints nothing).
        every_s: seconds between lines.
        clock: a monotonic clock in seconds (tests pass a fake one).

    Use as ``with Progress(n, 'checking images') as progress: ... progress.update()``,
    or :func:`track` around an iterable.
    """

    def __init__(self, total: int, desc: str, echo: Callable[[str], None] | None = None,
                 quiet_s: float = 5.0, every_s: float = 15.0,
                 clock: Callable[[], float] = time.monotonic):
        if total < 0:
            raise ValueError(f'Progress: total must be >= 0 units of work, got {total}')
        self.total = int(total)
        self.desc = desc
        self.echo = echo or _stderr
        self.every_s = float(every_s)
        self.clock = clock
        self.done = 0
        self.lines = 0  # lines printed so far
        self._start = clock()
        self._next = self._start + float(quiet_s)

    def update(self, n: int = 1) -> None:
        """``n`` more units are done."""
        self.done += n
        now = self.clock()
        if now >= self._next:
            self._next = now + self.every_s
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = now - self._start
        text = f'{self.desc}: {self.done}/{self.total}'
        if self.total:
            text += f' ({100 * self.done / self.total:.0f}%)'
        text += f', {format_duration(elapsed)}'
        if 0 < self.done < self.total:
            left = elapsed / self.done * (self.total - self.done)
            text += f', about {format_duration(left)} left'
        self.echo(text)
        self.lines += 1

    def close(self) -> None:
        """Print the closing line, if any line was printed before."""
        if self.lines:
            elapsed = self.clock() - self._start
            self.echo(f'{self.desc}: done, {self.done} in {format_duration(elapsed)}')
            self.lines += 1

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


def track(iterable: Iterable, total: int, desc: str, **kwargs) -> Iterator:
    """Yield from ``iterable``, counting each item with a :class:`Progress`."""
    with Progress(total, desc, **kwargs) as progress:
        for item in iterable:
            yield item
            progress.update()
