"""rankdet.progress: silent for short work, lines with the time left for long work."""
import pytest

from rankdet.progress import Progress, format_duration, track


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_short_work_prints_nothing():
    clock, lines = FakeClock(), []
    with Progress(1000, 'checking', echo=lines.append, quiet_s=5, clock=clock) as p:
        for _ in range(1000):
            clock.now += 0.004  # 4 s in all: below quiet_s
            p.update()
    assert lines == []


def test_long_work_prints_the_time_left_now_and_then():
    clock, lines = FakeClock(), []
    with Progress(100, 'evaluating', echo=lines.append, quiet_s=5, every_s=10,
                  clock=clock) as p:
        for _ in range(100):
            clock.now += 1.0  # 1 s per unit: 100 s in all
            p.update()
    # first line at 5 s, then every 10 s (15, 25, ..., 95), and the closing line
    assert len(lines) == 10 + 1
    assert lines[0] == 'evaluating: 5/100 (5%), 5 s, about 1 min 35 s left'
    assert lines[1] == 'evaluating: 15/100 (15%), 15 s, about 1 min 25 s left'
    assert lines[-1] == 'evaluating: done, 100 in 1 min 40 s'


def test_time_left_follows_the_rate_so_far():
    clock, lines = FakeClock(), []
    p = Progress(40, 'x', echo=lines.append, quiet_s=0, every_s=0, clock=clock)
    clock.now += 30
    p.update(10)  # 10 units in 30 s: 30 units left take 90 s
    assert lines == ['x: 10/40 (25%), 30 s, about 1 min 30 s left']


def test_track_counts_items_and_a_failure_prints_no_closing_line():
    clock, lines = FakeClock(), []

    def slow(n):
        for i in range(n):
            clock.now += 10
            yield i

    assert list(track(slow(3), 3, 'y', echo=lines.append, clock=clock)) == [0, 1, 2]
    assert lines[-1] == 'y: done, 3 in 30 s'
    lines.clear()
    with pytest.raises(RuntimeError):
        with Progress(3, 'z', echo=lines.append, quiet_s=0, clock=clock) as p:
            clock.now += 1
            p.update()
            raise RuntimeError('stop')
    assert lines == ['z: 1/3 (33%), 1 s, about 2 s left']


def test_durations_and_bad_total():
    assert [format_duration(s) for s in (0.4, 59, 60, 200, 3600, 7500)] == [
        '0 s', '59 s', '1 min 00 s', '3 min 20 s', '1 h 00 min', '2 h 05 min']
    with pytest.raises(ValueError, match='total must be >= 0'):
        Progress(-1, 'bad')
