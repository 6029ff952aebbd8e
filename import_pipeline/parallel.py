"""Run a generator in a child process and consume what it yields, with backpressure.

Parsing is CPU-bound Python; writing waits on the database. In one process both share
the GIL, and the writer's many short waits each cost a GIL hand-over. `iterate_in_process`
lets the parser have its own interpreter: the child runs `function(**kwargs)` and sends
each yielded value (pickled) through a bounded queue, so memory stays bounded by
`max_pending` values. An exception in the child is raised in the parent; leaving the
loop early stops the child.
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue
from collections.abc import Callable, Iterator
from typing import Any

_DONE = "__done__"
_FAILED = "__failed__"
_VALUE = "__value__"
#: Seconds between checks that the child is still alive while waiting for its next value.
POLL_SECONDS = 1.0


class ChildProcessError(RuntimeError):
    """The child process died without reporting an error (killed, out of memory)."""


def _child(function: Callable[..., Iterator[Any]] | str, kwargs: dict[str, Any], out: Any) -> None:
    try:
        if isinstance(function, str):
            module, _, name = function.partition(":")
            function = getattr(importlib.import_module(module), name)
        for value in function(**kwargs):
            out.put((_VALUE, value))
    except BaseException as exc:  # reported to the parent, which raises it
        out.put((_FAILED, exc))
    else:
        out.put((_DONE, None))


def iterate_in_process(
    function: Callable[..., Iterator[Any]] | str, kwargs: dict[str, Any], *, max_pending: int = 2
) -> Iterator[Any]:
    """Yield what `function(**kwargs)` yields, computed in a spawned child process.

    `function` must be importable by name and its arguments and values picklable. Given as
    `"module:name"`, it is imported by the child only: this process need not load what the
    function's module needs.
    """
    context = multiprocessing.get_context("spawn")  # no fork: the parent may run threads
    out = context.Queue(maxsize=max_pending)
    child = context.Process(target=_child, args=(function, kwargs, out), daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, value = out.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not child.is_alive():
                    raise ChildProcessError(f"the parsing process exited with code {child.exitcode}") from None
                continue
            if kind == _VALUE:
                yield value
            elif kind == _FAILED:
                raise value
            else:
                return
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        out.close()
