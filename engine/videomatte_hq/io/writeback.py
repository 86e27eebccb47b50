"""Write-behind: frame files are encoded and written (atomically) on a small pool of threads while the loop
goes on; each frame's completion callback (its `frame_done` event) runs on the loop's thread, in frame order,
once its file is on disk. At most `depth` writes are in flight (flat memory)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait


class WriteBehind:
    def __init__(self, workers: int, depth: int | None = None) -> None:
        self.depth = depth or 2 * workers
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="videomatte-write")
        self._pending: deque[tuple[Future | None, Callable[[], None]]] = deque()

    def submit(self, write: Callable[[], None] | None, done: Callable[[], None]) -> None:
        """Queue `write` (None: nothing to write, e.g. a frame kept by --resume) and, after it and every earlier
        write have finished, `done`. Raises the error of a failed write."""
        self._pending.append((None if write is None else self._pool.submit(write), done))
        self._retire(block=False)

    def flush(self) -> None:
        """Wait for every queued write (and send its event)."""
        self._retire(block=True)

    def _retire(self, block: bool) -> None:
        while self._pending:
            future, done = self._pending[0]
            if future is not None and not future.done() and not block and len(self._pending) < self.depth:
                return
            self._pending.popleft()
            if future is not None:
                future.result()  # a failed write raises here, on the loop's thread
            done()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            # On an error or a cancel, let the writes in flight finish (each is atomic: its file is whole or
            # absent, its temp file removed) but send no more events.
            wait([f for f, _ in self._pending if f is not None])
            self._pool.shutdown(wait=True)
