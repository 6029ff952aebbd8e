"""Run a generator in a child process and consume what it yields, with backpressure.

Parsing is CPU-bound Python; writing waits on the database. In one process both share
the GIL, and the writer's many short waits each cost a GIL hand-over. `iterate_in_process`
lets the parser have its own interpreter: the child runs `function(**kwargs)` and sends
each yielded value (pickled) through a pipe, so memory stays bounded: the child computes
the next value while the parent reads the last one, and waits while it is unread. An
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
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

_DONE = "__done__"
_FAILED = "__failed__"
_VALUE = "__value__"
#: A pickle whose memoryviews follow as raw messages.
_OUT_OF_BAND = "__out_of_band__"
#: Seconds between checks that the child is still alive while the parent waits for it.
POLL_SECONDS = 1.0


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
           out_of_band: bool, unimportable: tuple[str, ...]) -> None:
    _exit_with_parent()
    if unimportable:
        sys.meta_path.insert(0, _Unimportable(unimportable))
    try:
        if isinstance(function, str):
            module, _, name = function.partition(":")
            function = getattr(importlib.import_module(module), name)
        assert callable(function)
        for value in function(**kwargs):
            if out_of_band:
                _send_out_of_band(out, value)
            else:
                _send(out, (_VALUE, value))
        _send(out, (_DONE, None))
    except _ParentGone:
        pass
    except BaseException as exc:  # reported to the parent, which raises it
        try:
            try:
                _send(out, (_FAILED, exc))
            except (pickle.PicklingError, TypeError, AttributeError):
                _send(out, (_FAILED, RuntimeError(f"{type(exc).__name__}: {exc}")))
        except _ParentGone:
            pass


class _Unimportable(importlib.abc.MetaPathFinder):
    """A finder that makes importing the named top-level modules (and their submodules) fail
    with ModuleNotFoundError, as if they were not installed."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (kept out of this process)", name=fullname)
        return None


def _send_out_of_band(out: Connection, value: Any) -> None:
    buffers: list[pickle.PickleBuffer] = []
    stream = io.BytesIO()
    _OutOfBandPickler(stream, protocol=5, buffer_callback=buffers.append).dump(value)
    _send(out, (_OUT_OF_BAND, (stream.getvalue(), len(buffers))))
    try:
        for buffer in buffers:
            out.send_bytes(buffer.raw())
    except (BrokenPipeError, ConnectionResetError, EOFError):
        raise _ParentGone from None


def _send(out: Connection, message: tuple[str, Any]) -> None:
    """Send `message` to the parent, waiting while it reads the last one; `_ParentGone` if it is gone."""
    try:
        out.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        raise _ParentGone from None


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
) -> Iterator[Any]:
    """Yield what `function(**kwargs)` yields, computed in a spawned child process.

    `function` must be importable by name and its arguments and values picklable. Given as
    `"module:name"`, it is imported by the child only: this process need not load what the
    function's module needs. A value that does not fit the pipe's buffer waits there until
    this process reads it, while the child computes the next one.

    With `out_of_band`, every (contiguous) `memoryview` in a value, which could not be
    pickled otherwise, is sent as raw bytes and arrives as a read-only byte `memoryview`
    of memory of its own.

    The modules named in `unimportable` cannot be imported in the child (an `import` raises
    ImportError): pyarrow, say, then does without pandas instead of loading it (~0.2 s,
    ~40 MiB) to ask whether plain Python values are pandas objects.
    """
    context = multiprocessing.get_context("spawn")  # no fork: the parent may run threads
    values, child_out = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(function, kwargs, child_out, out_of_band, tuple(unimportable)),
                            daemon=True)
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
            except EOFError:
                child.join(POLL_SECONDS)
                raise ChildProcessError(f"the parsing process exited with code {child.exitcode}") from None
            if kind == _VALUE:
                yield value
            elif kind == _OUT_OF_BAND:
                yield pickle.loads(data, buffers=buffers)
            elif kind == _FAILED:
                raise value
            else:
                return
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        values.close()
