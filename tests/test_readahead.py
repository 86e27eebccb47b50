"""Read-ahead and write-behind: order, bounds, errors, and a consumer that stops early never hangs."""

from __future__ import annotations

import threading
import time

import pytest

from videomatte_hq.io.readahead import background, ordered_map
from videomatte_hq.io.writeback import WriteBehind


def _finishes(fn, seconds: float = 20.0) -> None:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung"


def test_ordered_map_keeps_order_and_bounds_what_is_in_flight():
    started = []

    def load(i):
        started.append(i)
        time.sleep(0.01 * (5 - i % 5))  # later items often finish first
        return i * i

    results = ordered_map(load, range(20), workers=4, depth=4)
    assert next(results) == 0 and len(started) <= 4
    assert list(results) == [i * i for i in range(1, 20)]


def test_background_decoder_errors_and_early_stop():
    def frames(n, fail_at=None):
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"frame {i} is corrupt")
            yield i

    assert list(background(frames(6), depth=2)) == list(range(6))
    with pytest.raises(ValueError, match="frame 3 is corrupt"):
        list(background(frames(6, fail_at=3), depth=2))

    def stop_after_source_ended():  # the producer finished and filled the queue; the consumer leaves
        items = background(frames(3), depth=2)
        assert next(items) == 0
        time.sleep(0.3)
        items.close()

    _finishes(stop_after_source_ended)


def test_write_behind_runs_callbacks_in_order_after_the_writes():
    written, done = [], []
    with WriteBehind(workers=3, depth=4) as writer:
        for i in range(12):
            delay = 0.02 * (3 - i % 3)
            writer.submit(lambda i=i, d=delay: (time.sleep(d), written.append(i)),
                          lambda i=i: (done.append(i), written.index(i)))  # its file is written first
            writer.submit(None, lambda: None)  # a kept frame: no write, still in order
    assert done == list(range(12)) and sorted(written) == list(range(12))


def test_write_behind_raises_a_failed_write_and_waits_for_the_rest():
    finished = []

    def fail():
        time.sleep(0.05)  # still running when the next write is queued
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with WriteBehind(workers=2, depth=2) as writer:
            writer.submit(fail, lambda: None)
            writer.submit(lambda: (time.sleep(0.2), finished.append(1)), lambda: None)
            writer.submit(lambda: None, lambda: None)
    assert finished == [1], "writes in flight complete before the error leaves the stage"


def test_write_behind_sends_a_callback_once_its_file_is_written():
    """A frame's event does not wait for the loop's next call (a slow refine would hold it back a whole frame);
    a callback that raises (a sink that cannot write the report) stops the later ones and reaches the loop."""
    sent = threading.Event()
    with WriteBehind(workers=2) as writer:
        writer.submit(lambda: time.sleep(0.1), sent.set)  # still writing when submit returns
        assert sent.wait(5), "the event waited for the loop's next call"
    later = []

    def broken_sink():
        raise OSError("report not writable")

    with pytest.raises(OSError, match="report not writable"):
        with WriteBehind(workers=1, depth=8) as writer:
            writer.submit(lambda: None, broken_sink)
            writer.submit(lambda: time.sleep(0.05), lambda: later.append(1))
            writer.flush()
    assert later == []
