"""Bounded read-ahead off the critical path: decoding the next frames (OpenImageIO and PyAV release the GIL,
and so do the colour table's gathers) while the models work on this one. Memory stays flat with clip length:
at most `depth` frames are in flight."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, depth: int) -> Iterator[R]:
    """`map(fn, items)` on a thread pool, results in order, at most `depth` ahead of the consumer."""
    if workers <= 1 and depth <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="videomatte-read") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # the consumer stopped early (an error, a cancel): drop what it will not read
            for future in pending:
                future.cancel()


_END = object()


def background(source: Iterator[T], depth: int) -> Iterator[T]:
    """Run a sequential iterator (a video decoder) on its own thread, `depth` items ahead."""
    if depth <= 1:
        yield from source
        return
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        """Hand an entry over unless the consumer has gone (then the queue may stay full for ever)."""
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((_END, exc))

    thread = threading.Thread(target=produce, name="videomatte-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()
