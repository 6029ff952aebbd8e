"""Run a generator in a child process and consume what it yields, with backpressure.

Parsing is CPU-bound Python; writing waits on the database. In one process both share
the GIL, and the writer's many short waits each cost a GIL hand-over. `iterate_in_process`
lets the parser have its own interpreter: the child runs `function(**kwargs)` and sends
each yielded value (pickled) through a bounded queue, so memory stays bounded by
`max_pending` values. An exception in the child is raised in the parent; leaving the
loop early stops the child.

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
import queue
import secrets
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

_DONE = "__done__"
_FAILED = "__failed__"
_VALUE = "__value__"
_SHARED = "__shared__"
#: Seconds between checks that the other process is still alive while waiting for it.
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

    def __init__(self, free: Any, prefix: str) -> None:
        self.free = free
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
                self.free.put(index)
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
        return _while_parent_lives(lambda: self.free.get(timeout=POLL_SECONDS), queue.Empty)

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
    try:
        os.unlink(path)
    except OSError:
        pass


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


def _child(function: Callable[..., Iterator[Any]] | str, kwargs: dict[str, Any], out: Any, free: Any,
           slot_prefix: str | None) -> None:
    writer = _SlotWriter(free, slot_prefix) if free is not None and slot_prefix is not None else None
    parent_gone = False
    try:
        if isinstance(function, str):
            module, _, name = function.partition(":")
            function = getattr(importlib.import_module(module), name)
        for value in function(**kwargs):
            if writer is None:
                _put(out, (_VALUE, value))
            else:
                _put(out, writer.message(value))
                writer.sent()
        _put(out, (_DONE, None))
    except _ParentGone:
        parent_gone = True
    except BaseException as exc:  # reported to the parent, which raises it
        try:
            _put(out, (_FAILED, exc))
        except _ParentGone:
            parent_gone = True
    finally:
        if writer is not None:
            writer.close(parent_gone)


def _put(out: Any, message: tuple[str, Any]) -> None:
    """Put `message` on the bounded queue; `_ParentGone` if the parent exits meanwhile."""
    _while_parent_lives(lambda: out.put(message, timeout=POLL_SECONDS), queue.Full)


def _while_parent_lives(attempt: Callable[[], Any], timed_out: type[Exception]) -> Any:
    """Call `attempt` (which waits up to POLL_SECONDS, then raises `timed_out`) until it
    returns; `_ParentGone` once the child's parent has exited."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            return attempt()
        except timed_out:
            if parent is not None and not parent.is_alive():
                raise _ParentGone from None


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

    With `shared_in_use` set, every (contiguous) `memoryview` in a value, which could not
    be pickled otherwise, travels through shared memory and arrives as a read-only byte
    `memoryview` of it (as `bytes` when there is no room for shared memory). That memory is reused for later values: `shared_in_use` says how many of the
    values already yielded the consumer may still be reading when it asks for the next
    one (0: only the last value is read until the next is asked for). Views of older
    values must no longer be read.
    """
    context = multiprocessing.get_context("spawn")  # no fork: the parent may run threads
    out = context.Queue(maxsize=max_pending)
    free = None
    slot_prefix = None
    if shared_in_use is not None:
        free = context.Queue()
        # In use by the consumer, queued, and being filled by the child.
        for index in range(shared_in_use + 1 + max_pending + 1):
            free.put(index)
        slot_prefix = f"import_pipeline-{os.getpid()}-{secrets.token_hex(6)}-"
    child = context.Process(target=_child, args=(function, kwargs, out, free, slot_prefix), daemon=True)
    child.start()
    slots: dict[int, mmap.mmap] = {}
    held: deque[int | None] = deque()  # the slot of each value yielded and maybe in use
    try:
        while True:
            while shared_in_use is not None and len(held) > shared_in_use:
                if (index := held.popleft()) is not None:
                    free.put(index)
            try:
                kind, value = out.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not child.is_alive():
                    raise ChildProcessError(f"the parsing process exited with code {child.exitcode}") from None
                continue
            if kind == _VALUE:
                yield value
            elif kind == _SHARED:
                data, index, path, spans = value
                if path is not None:  # a new slot: views of the one it replaces are no longer read
                    slots[index] = _mapped_file(path)
                    _remove(path)
                views = [] if index is None else [memoryview(slots[index])[start:start + length].toreadonly()
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
        out.close()
        if free is not None:
            free.close()
        if slot_prefix is not None:  # slots the child made and never sent (it was stopped)
            for folder in _slot_folders():
                for entry in os.listdir(folder):
                    if entry.startswith(slot_prefix):
                        _remove(os.path.join(folder, entry))
