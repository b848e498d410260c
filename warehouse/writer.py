"""A load's writes, run in order on one background thread.

SQLite releases the GIL while it steps a statement, so while it inserts one table's rows the
loader can already build the next table's frame. Writes are queued as calls
(``submit(fn, *args)``) and run one after the other, in the order given, on the load's own
connection and transaction; nothing else may use the connection until :meth:`drain` returns.
The first failure stops the queue and is raised by the next ``submit`` or ``drain``, so the
caller's transaction rolls back exactly as if the write had run in its own thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Calls waiting at most (each may hold a frame of a table's rows).
QUEUE_SIZE = 4

_STOP = object()


class WritesAbortedError(RuntimeError):
    """Queued writes were skipped because the load failed elsewhere."""


class BackgroundWriter:
    """Runs submitted calls in order on a single thread (see the module docstring)."""

    def __init__(self) -> None:
        self._calls: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="aied-load-writer",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            call = self._calls.get()
            try:
                if call is _STOP:
                    return
                if isinstance(call, threading.Event):
                    call.set()
                elif self._error is None:
                    fn, args, kwargs = call
                    fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller's thread, never lost
                self._error = exc
            finally:
                self._calls.task_done()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``fn(*args, **kwargs)`` after the calls already queued.

        Raises:
            BaseException: The failure of an earlier call, if one failed.
        """
        self._raise_failure()
        self._calls.put((fn, args, kwargs))

    def drain(self) -> None:
        """Wait until every queued call has run.

        Raises:
            BaseException: The first failure of a queued call.
        """
        done = threading.Event()
        self._calls.put(done)
        done.wait()
        self._raise_failure()

    def abort(self) -> None:
        """Skip the calls not yet started (the caller is rolling back)."""
        if self._error is None:
            self._error = WritesAbortedError("the load failed; its queued writes were skipped")

    def stop(self) -> None:
        """End the thread once the call running now (if any) returns."""
        self._calls.put(_STOP)
        self._thread.join()


@contextmanager
def background_writes() -> Iterator[BackgroundWriter]:
    """A writer for the block: drained when the block ends normally, stopped in any case.

    When the block raises, the calls not yet started are skipped and the thread ends before
    the exception goes on, so the connection is idle when the caller rolls back.
    """
    writer = BackgroundWriter()
    try:
        yield writer
        writer.drain()
    except BaseException:
        writer.abort()
        raise
    finally:
        writer.stop()
