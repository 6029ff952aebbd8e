"""Run a generator in a child process and consume what it yields, with backpressure.

Parsing is CPU-bound Python; writing waits on the database. In one process both share
the GIL, and the writer's many short waits each cost a GIL hand-over. `iterate_in_process`
lets the parser have its own interpreter: the child runs `function(**kwargs)` and sends
each yielded value (pickled) through a pipe, so memory stays bounded: the child computes
the next value while the parent reads the last one, and waits while it is unread. An
exception in the child is raised in the parent; leaving the loop early stops the child.

The hand-over survives its callers' mistakes and deaths:
- the child never runs the caller's `__main__` again (spawn would re-run a script that has
  no `if __name__ == "__main__":` guard, and with it the import that started the child);
- plain pipes carry everything, so no named semaphore (`/dev/shm/sem.mp-*`) can be left
  behind by a kill;
- the child exits within moments of its parent's death, whatever it is doing, removing
  the shared-memory files it made.

Large buffers (encoded COPY data) can travel through shared memory instead: the child
writes each value's `memoryview`s into one of a few reused shared-memory slots and sends
only the rest, and the parent reads them in place. Through the pipe the same bytes cost a
pickle copy, a pipe write and read, an unpickle copy and fresh pages on both sides (~1 s
of CPU per 250 MB here); through reused slots, one copy (~0.2 s).
"""

from __future__ import annotations

import importlib
import io
import mmap
import multiprocessing
import os
import pickle
import secrets
import sys
import tempfile
import threading
import types
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Any

_DONE = "__done__"
_FAILED = "__failed__"
_VALUE = "__value__"
_SHARED = "__shared__"
#: Seconds between checks that the child is still alive while the parent waits for it.
POLL_SECONDS = 1.0
_MIB = 1024 * 1024


class ChildProcessError(RuntimeError):
    """The child process died without reporting an error (killed, out of memory)."""


class _ParentGone(Exception):
    """The child's parent exited: nobody reads what the child makes."""


def _as_received(buffer: memoryview) -> memoryview:
    """Unpickles a shared buffer as the read-only view of shared memory it arrived in."""
    return buffer


class _SharingPickler(pickle.Pickler):
    """Pickles memoryviews out of band (`_as_received` of a `PickleBuffer`), the rest in band.
    (Picklers never ask about `bytes`: they are pickled by a fast path.)"""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is memoryview:
            return _as_received, (pickle.PickleBuffer(obj),)
        return NotImplemented


def _dumps(value: Any, buffer_callback: Callable[[pickle.PickleBuffer], None] | None = None) -> bytes:
    """`value` pickled; its memoryviews handed to `buffer_callback`, or in band without one."""
    stream = io.BytesIO()
    _SharingPickler(stream, protocol=5, buffer_callback=buffer_callback).dump(value)
    return stream.getvalue()


class _SlotWriter:
    """The child's side of the shared-memory slots: each value's memoryviews are written
    into a free slot (a new, larger one when they do not fit), the rest pickled in band.

    A slot is a file named `prefix` and a number, in the first of `_slot_folders()` with
    room for it, mapped by both processes; the parent deletes the file as soon as it has
    mapped it, so nothing is left behind once both processes are gone. The child deletes
    only files it made and did not send, and all of them if the parent exited. A value no
    folder has room for goes through the pipe whole (its memoryviews arrive as `bytes`).
    """

    def __init__(self, free: Connection, slots: int, prefix: str) -> None:
        self.free = free
        self.available = list(range(slots))
        self.prefix = prefix
        self.folders = _slot_folders()
        self.slots: dict[int, mmap.mmap] = {}
        self.made: list[str] = []
        self.unsent: str | None = None

    def message(self, value: Any) -> tuple[str, tuple]:
        buffers: list[pickle.PickleBuffer] = []
        data = _dumps(value, buffers.append)
        if not buffers:
            return _SHARED, (data, None, None, [])
        views = [buffer.raw() for buffer in buffers]
        size = sum(view.nbytes for view in views)
        index = self._free_slot()
        slot = self.slots.get(index)
        path = None
        if slot is None or len(slot) < size:
            # A quarter to spare, in whole MiB: a few growing values do not each need a new slot.
            capacity = max(1, -(-(size + size // 4) // _MIB)) * _MIB
            # Writing past a full tmpfs kills the process (SIGBUS): only where there is room.
            folder = next((f for f in self.folders if _room(f) >= capacity + 16 * _MIB), None)
            if folder is None:
                self.available.append(index)
                return _SHARED, (_dumps(value), None, None, [])
            path = self.unsent = os.path.join(folder, f"{self.prefix}{len(self.made) + 1}")
            self.made.append(path)
            slot = self.slots[index] = _mapped_file(path, size=capacity)
        spans = []
        start = 0
        for view in views:
            slot[start:start + view.nbytes] = view
            spans.append((start, view.nbytes))
            start += view.nbytes
        return _SHARED, (data, index, path, spans)

    def sent(self) -> None:
        self.unsent = None

    def _free_slot(self) -> int:
        """A slot nobody reads: one never used, else the next one the parent frees (waited for)."""
        if self.available:
            return self.available.pop()
        try:
            return self.free.recv()
        except (EOFError, OSError):  # the parent closed its end: it is gone
            raise _ParentGone from None

    def close(self, parent_gone: bool) -> None:
        for path in self.made if parent_gone else [self.unsent] if self.unsent else []:
            _remove(path)


def _mapped_file(path: str, size: int | None = None) -> mmap.mmap:
    """Map the file at `path`, shared; with `size`, create it (it must not exist) that large."""
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if size is not None else 0)
    descriptor = os.open(path, flags, 0o600)
    try:
        if size is not None:
            os.ftruncate(descriptor, size)
        return mmap.mmap(descriptor, size or 0)  # keeps its own descriptor
    finally:
        os.close(descriptor)


def _remove(path: str) -> None:
    with suppress(OSError):
        os.unlink(path)


def _slot_folders() -> list[str]:
    """Where slot files may go, best first: tmpfs (`/dev/shm`) where there is one, then the
    temporary folder (a file there lives in the page cache as long as it is mapped)."""
    folders = [tempfile.gettempdir()]
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        folders.insert(0, "/dev/shm")
    return folders


def _room(folder: str) -> int:
    """Bytes free for an unprivileged process in `folder`'s file system."""
    if not hasattr(os, "statvfs"):
        return 1 << 62  # no way to ask: assume room
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def _child(function: Callable[..., Iterator[Any]] | str, kwargs: dict[str, Any], out: Connection,
           free: Connection | None, slots: int, slot_prefix: str | None) -> None:
    writer = _SlotWriter(free, slots, slot_prefix) if free is not None and slot_prefix is not None else None
    _exit_with_parent(lambda: writer.close(parent_gone=True) if writer is not None else None)
    parent_gone = False
    try:
        if isinstance(function, str):
            module, _, name = function.partition(":")
            function = getattr(importlib.import_module(module), name)
        assert callable(function)
        for value in function(**kwargs):
            if writer is None:
                _send(out, (_VALUE, value))
            else:
                _send(out, writer.message(value))
                writer.sent()
        _send(out, (_DONE, None))
    except _ParentGone:
        parent_gone = True
    except BaseException as exc:  # reported to the parent, which raises it
        try:
            try:
                _send(out, (_FAILED, exc))
            except (pickle.PicklingError, TypeError, AttributeError):
                _send(out, (_FAILED, RuntimeError(f"{type(exc).__name__}: {exc}")))
        except _ParentGone:
            parent_gone = True
    finally:
        if writer is not None:
            writer.close(parent_gone)


def _send(out: Connection, message: tuple[str, Any]) -> None:
    """Send `message` to the parent, waiting while it reads the last one; `_ParentGone` if it is gone."""
    try:
        out.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        raise _ParentGone from None


def _exit_with_parent(cleanup: Callable[[], Any]) -> None:
    """In a child process: when the parent exits (killed, say), run `cleanup` and exit at once,
    whatever the main thread is doing (parsing, or waiting to send)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent's end of the sentinel pipe closes
        try:
            cleanup()
        finally:
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
    max_pending: int = 2,
    shared_in_use: int | None = None,
) -> Iterator[Any]:
    """Yield what `function(**kwargs)` yields, computed in a spawned child process.

    `function` must be importable by name and its arguments and values picklable. Given as
    `"module:name"`, it is imported by the child only: this process need not load what the
    function's module needs.

    A value that does not fit the pipe's buffer waits there until this process reads it,
    while the child computes the next one.

    With `shared_in_use` set, every (contiguous) `memoryview` in a value, which could not
    be pickled otherwise, travels through shared memory and arrives as a read-only byte
    `memoryview` of it (as `bytes` when there is no room for shared memory). That memory is
    reused for later values: `shared_in_use` says how many of the
    values already yielded the consumer may still be reading when it asks for the next
    one (0: only the last value is read until the next is asked for). Views of older
    values must no longer be read. `max_pending` more values may wait, made, for the
    consumer to ask for them.
    """
    context = multiprocessing.get_context("spawn")  # no fork: the parent may run threads
    values, child_out = context.Pipe(duplex=False)
    child_free: Connection | None = None
    freed: Connection | None = None
    slots = 0
    slot_prefix = None
    if shared_in_use is not None:
        child_free, freed = context.Pipe(duplex=False)
        # In use by the consumer, made and waiting for it, and being filled by the child.
        slots = shared_in_use + 1 + max_pending + 1
        slot_prefix = f"import_pipeline-{os.getpid()}-{secrets.token_hex(6)}-"
    child = context.Process(target=_child, args=(function, kwargs, child_out, child_free, slots, slot_prefix),
                            daemon=True)
    with _main_module_hidden(function):
        child.start()
    child_out.close()  # the child's ends: once it is gone, reads here end
    if child_free is not None:
        child_free.close()
    mapped: dict[int, mmap.mmap] = {}
    held: deque[int | None] = deque()  # the slot of each value yielded and maybe in use
    try:
        while True:
            while freed is not None and shared_in_use is not None and len(held) > shared_in_use:
                if (index := held.popleft()) is not None:
                    # A child that has finished needs no more slots and has closed its end.
                    with suppress(BrokenPipeError, ConnectionResetError):
                        freed.send(index)
            if not values.poll(POLL_SECONDS):
                if not child.is_alive():
                    raise ChildProcessError(f"the parsing process exited with code {child.exitcode}")
                continue
            try:
                kind, value = values.recv()
            except EOFError:
                child.join(POLL_SECONDS)
                raise ChildProcessError(f"the parsing process exited with code {child.exitcode}") from None
            if kind == _VALUE:
                yield value
            elif kind == _SHARED:
                data, index, path, spans = value
                if path is not None:  # a new slot: views of the one it replaces are no longer read
                    mapped[index] = _mapped_file(path)
                    _remove(path)
                views = [] if index is None else [memoryview(mapped[index])[start:start + length].toreadonly()
                                                  for start, length in spans]
                held.append(index)
                yield pickle.loads(data, buffers=views)
            elif kind == _FAILED:
                raise value
            else:
                return
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        values.close()
        if freed is not None:
            freed.close()
        if slot_prefix is not None:  # slots the child made and never sent (it was stopped)
            for folder in _slot_folders():
                for entry in os.listdir(folder):
                    if entry.startswith(slot_prefix):
                        _remove(os.path.join(folder, entry))
