"""Write-behind: frame files are encoded and written (atomically) on a small pool of threads while the loop
goes on; each frame's completion callback (its `frame_done` event) runs in frame order as soon as its file and
every earlier one are on disk, on the thread that finished the last of them (a slow frame on the loop's thread
does not hold back the events of files already written). At most `depth` writes are in flight (flat memory).
A failed write, or a callback that raised, is raised on the loop's thread at its next call; no callback runs
after it."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait


class WriteBehind:
    def __init__(self, workers: int, depth: int | None = None) -> None:
        self.depth = depth or 2 * workers
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="videomatte-write")
        self._pending: deque[tuple[Future | None, Callable[[], None]]] = deque()
        self._changed = threading.Condition()  # guards _pending, _failed and _open; notified as they change
        self._failed: Exception | None = None
        self._open = True  # callbacks may run

    def submit(self, write: Callable[[], None] | None, done: Callable[[], None]) -> None:
        """Queue `write` (None: nothing to write, e.g. a frame kept by --resume) and, after it and every earlier
        write have finished, `done`. Waits while `depth` writes are pending; raises the error of a failed write."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._pending) < self.depth or self._failed is not None)
            self._raise_failed()
            future = None if write is None else self._pool.submit(write)
            self._pending.append((future, done))
        if future is None:
            self._retire()
        else:
            future.add_done_callback(lambda _: self._retire())

    def flush(self) -> None:
        """Wait for every queued write and its callback."""
        with self._changed:
            self._changed.wait_for(lambda: not self._pending or self._failed is not None)
            self._raise_failed()

    def _raise_failed(self) -> None:
        if self._failed is not None:
            raise self._failed

    def _retire(self) -> None:
        """Run the callbacks of the finished writes at the head of the queue (any thread)."""
        with self._changed:
            while self._pending and self._open:
                future, done = self._pending[0]
                if future is not None and not future.done():
                    break
                try:
                    if future is not None:
                        future.result()
                    done()
                except Exception as exc:  # re-raised on the loop's thread (a cancel raised here goes up at once)
                    self._failed, self._open = exc, False
                self._pending.popleft()
            self._changed.notify_all()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            # On an error or a cancel, let the writes in flight finish (each is atomic: its file is whole or
            # absent, its temp file removed) but send no more events.
            with self._changed:
                self._open = False
                futures = [f for f, _ in self._pending if f is not None]
            wait(futures)
            self._pool.shutdown(wait=True)
