"""Run a generator in a child process and consume what it yields, with backpressure.

Parsing is CPU-bound Python; writing waits on the database. In one process both share
the GIL, and the writer's many short waits each cost a GIL hand-over. `iterate_in_process`
lets the parser have its own interpreter: the child runs `function(**kwargs)` and sends
each yielded value (pickled) through a pipe, so memory stays bounded: the child computes
the next values while a thread of its sends the last ones, at most `max_pending` ahead. An
exception in the child is raised in the parent; leaving the loop early stops the child.

Large buffers (encoded COPY data) travel out of band: each `memoryview` in a value is
written to the pipe as raw bytes after the value's pickle (no pickle copy on either side)
and arrives as a read-only `memoryview` of a fresh bytes object, which the consumer may
keep as long as it likes: nothing is ever reused under it.

The hand-over survives its callers' mistakes and deaths:
- the child never runs the caller's `__main__` again (spawn would re-run a script that has
  no `if __name__ == "__main__":` guard, and with it the import that started the child);
- plain pipes carry everything, so no named semaphore (`/dev/shm/sem.mp-*`) and no
  shared-memory file can be left behind by a kill;
- the child exits within moments of its parent's death, whatever it is doing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import io
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Any

_DONE = "__done__"
_FAILED = "__failed__"
_VALUE = "__value__"
#: A pickle whose memoryviews follow as raw messages.
_OUT_OF_BAND = "__out_of_band__"
#: Seconds between checks that the child is still alive while the parent waits for it.
POLL_SECONDS = 1.0
#: Seconds a child stopped early has to exit on SIGTERM before it is killed.
STOP_SECONDS = 5.0


class ChildProcessError(RuntimeError):
    """The child process died without reporting an error (killed, out of memory)."""


class _ParentGone(Exception):
    """The child's parent exited: nobody reads what the child makes."""


def _as_received(buffer: memoryview) -> memoryview:
    """Unpickles an out-of-band buffer as the read-only view it arrived as."""
    return buffer


class _OutOfBandPickler(pickle.Pickler):
    """Pickles memoryviews out of band (`_as_received` of a `PickleBuffer`), the rest in band.
    (Picklers never ask about `bytes`: they are pickled by a fast path.)"""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is memoryview:
            return _as_received, (pickle.PickleBuffer(obj),)
        return NotImplemented


def _child(function: Callable[..., Iterator[Any]] | str, kwargs: dict[str, Any], out: Connection,
           out_of_band: bool, unimportable: tuple[str, ...], max_pending: int) -> None:
    # The parent stops an unfinished child with SIGTERM (`terminate`). An ignored signal is
    # inherited across exec, and whatever started the parent may have ignored SIGTERM: then
    # the child could not be stopped, and the parent would wait on it for ever.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _exit_with_parent()
    if unimportable:
        sys.meta_path.insert(0, _Unimportable(unimportable))
    sender = _Sender(out, out_of_band, max_pending)
    try:
        if isinstance(function, str):
            module, _, name = function.partition(":")
            function = getattr(importlib.import_module(module), name)
        assert callable(function)
        for value in function(**kwargs):
            sender.put((_VALUE, value))
        sender.put((_DONE, None))
    except _ParentGone:
        pass
    except BaseException as exc:  # reported to the parent, which raises it
        with suppress(_ParentGone):
            sender.put((_FAILED, exc))
    sender.join()


class _Sender:
    """Sends the child's messages on a thread of its own: the child computes the next value
    while the last ones are written to the pipe (a write waits for the parent to read). At
    most `max_pending` values wait to be sent. A value that cannot be sent (it cannot be
    pickled) is reported to the parent as the child's failure."""

    def __init__(self, out: Connection, out_of_band: bool, max_pending: int) -> None:
        self.out = out
        self.out_of_band = out_of_band
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max_pending)
        self.gone = False
        self.thread = threading.Thread(target=self._run, name="child-sender", daemon=True)
        self.thread.start()

    def put(self, message: tuple[str, Any]) -> None:
        """Queue `message` for sending; `_ParentGone` once the parent cannot be reached."""
        if self.gone:
            raise _ParentGone
        self.messages.put(message)

    def join(self) -> None:
        """Wait until every queued message is sent (or the parent is gone)."""
        self.thread.join()

    def _run(self) -> None:
        finished = False
        while not finished:
            kind, value = self.messages.get()
            finished = kind in (_DONE, _FAILED)
            if self.gone:
                continue  # drain, so that the producer never waits on a full queue
            try:
                self._send(kind, value)
            except _ParentGone:
                self.gone = True
            except Exception as exc:  # a value that cannot be pickled
                finished = True
                with suppress(_ParentGone):
                    self._send(_FAILED, RuntimeError(f"cannot send a value to the parent: {type(exc).__name__}: {exc}"))
                self.gone = True

    def _send(self, kind: str, value: Any) -> None:
        try:
            if kind == _VALUE and self.out_of_band:
                buffers: list[pickle.PickleBuffer] = []
                stream = io.BytesIO()
                _OutOfBandPickler(stream, protocol=5, buffer_callback=buffers.append).dump(value)
                self.out.send((_OUT_OF_BAND, (stream.getvalue(), len(buffers))))
                for buffer in buffers:
                    self.out.send_bytes(buffer.raw())
            elif kind == _FAILED:
                try:
                    self.out.send((kind, value))
                except (pickle.PicklingError, TypeError, AttributeError):
                    self.out.send((kind, RuntimeError(f"{type(value).__name__}: {value}")))
            else:
                self.out.send((kind, value))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise _ParentGone from None


class _Unimportable(importlib.abc.MetaPathFinder):
    """A finder that makes importing the named top-level modules (and their submodules) fail
    with ModuleNotFoundError, as if they were not installed."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (kept out of this process)", name=fullname)
        return None


def _exit_with_parent() -> None:
    """In a child process: when the parent exits (killed, say), exit at once, whatever the
    main thread is doing (parsing, or waiting to send)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent's end of the sentinel pipe closes
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextmanager
def _main_module_hidden(function: Callable[..., Any] | str) -> Iterator[None]:
    """While a child is spawned, stand a blank module in for `__main__`, so that the child does
    not import the caller's script again: a script without an `if __name__ == "__main__":`
    guard would otherwise run again in the child, start another import, and wait forever on
    the first one's lock. The child needs nothing of `__main__` unless `function` lives there."""
    main = sys.modules.get("__main__")
    if main is None or getattr(function, "__module__", None) == "__main__":
        yield
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def iterate_in_process(
    function: Callable[..., Iterator[Any]] | str,
    kwargs: dict[str, Any],
    *,
    out_of_band: bool = False,
    unimportable: Sequence[str] = (),
    max_pending: int = 2,
) -> Iterator[Any]:
    """Yield what `function(**kwargs)` yields, computed in a spawned child process.

    `function` must be importable by name and its arguments and values picklable. Given as
    `"module:name"`, it is imported by the child only: this process need not load what the
    function's module needs. At most `max_pending` values wait to be sent while the child
    computes the next one.

    With `out_of_band`, every (contiguous) `memoryview` in a value, which could not be
    pickled otherwise, is sent as raw bytes and arrives as a read-only byte `memoryview`
    of memory of its own.

    The modules named in `unimportable` cannot be imported in the child (an `import` raises
    ImportError): pyarrow, say, then does without pandas instead of loading it (~0.2 s,
    ~40 MiB) to ask whether plain Python values are pandas objects.
    """
    context = multiprocessing.get_context("spawn")  # no fork: the parent may run threads
    values, child_out = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(function, kwargs, child_out, out_of_band, tuple(unimportable), max_pending), daemon=True)
    with _main_module_hidden(function):
        child.start()
    child_out.close()  # the child's end: once it is gone, reads here end
    try:
        while True:
            if not values.poll(POLL_SECONDS):
                if not child.is_alive():
                    raise ChildProcessError(f"the parsing process exited with code {child.exitcode}")
                continue
            try:
                kind, value = values.recv()
                if kind == _OUT_OF_BAND:
                    data, count = value
                    buffers = [memoryview(values.recv_bytes()).toreadonly() for _ in range(count)]
                    kind, value = _VALUE, pickle.loads(data, buffers=buffers)
            except EOFError:
                child.join(POLL_SECONDS)
                raise ChildProcessError(f"the parsing process exited with code {child.exitcode}") from None
            if kind == _VALUE:
                yield value
            elif kind == _FAILED:
                raise value
            else:
                return
    finally:
        if child.is_alive():
            child.terminate()
            child.join(STOP_SECONDS)
            if child.is_alive():  # SIGTERM ignored by the child's own code
                child.kill()
        child.join()
        values.close()
