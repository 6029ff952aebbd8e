"""One bounded background writer: the database writes of a load run on a second thread while
the caller parses the next batch.

Parsing holds the GIL; writing mostly waits for the server, which then works on the other
core. Both families write through `BackgroundWriter`, so both get the same guarantees:

- items are written one at a time, in the order submitted;
- at most `depth` items wait to be written: `submit` blocks beyond that, so memory is
  bounded by the batch size, not by the file;
- the first error of a write is raised in the caller, by the next `submit` or `result` or
  when the block ends, and nothing is written after it;
- leaving the block waits until everything submitted is written, unless the block is left
  by an exception: then the writer stops after the item it is writing.

The connection the write function uses belongs to the writer thread for the whole block:
the caller must not use it meanwhile (it may use another one, from the pool).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_STOP = object()


class BackgroundWriter(Generic[Item, Result]):
    """Calls `write(item)` on a thread of its own for each submitted item (see the module)."""

    def __init__(self, write: Callable[[Item], Result], *, depth: int, name: str) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._write = write
        self._requests: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._results: queue.Queue[Result] = queue.Queue()
        self._error: BaseException | None = None
        self._waiting_results = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> BackgroundWriter[Item, Result]:
        self._thread.start()
        return self

    def _run(self) -> None:
        while (item := self._requests.get()) is not _STOP:
            if self._error is not None:
                continue  # drain, so that a waiting `submit` returns and raises
            try:
                self._results.put(self._write(item))  # type: ignore[arg-type]
            except BaseException as exc:  # handed to the caller
                self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, item: Item) -> None:
        """Queue `item` for writing, waiting while `depth` items wait already; raises the
        writer's error if a write has failed."""
        self._raise_error()
        self._waiting_results += 1
        self._requests.put(item)

    def result(self) -> Result:
        """The result of the oldest submitted item whose result was not taken yet, once it is
        written; raises the writer's error if a write has failed."""
        if self._waiting_results == 0:
            raise RuntimeError("every submitted item's result was taken already")
        while True:
            self._raise_error()
            try:
                result = self._results.get(timeout=0.05)
            except queue.Empty:
                continue
            self._waiting_results -= 1
            return result

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is not None and self._error is None:
            self._error = error  # stop writing: the caller's block failed
        self._requests.put(_STOP)
        self._thread.join()
        if kind is None:
            self._raise_error()
