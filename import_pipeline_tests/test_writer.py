"""The bounded background writer: order, bounded queue, first error in the caller, nothing after it."""

import threading

import pytest

from import_pipeline.postgres.writer import BackgroundWriter


def test_items_are_written_in_order_with_their_results() -> None:
    written = []

    def write(item: int) -> int:
        written.append(item)
        return item * 10

    with BackgroundWriter(write, depth=2, name="test-writer") as writer:
        for n in range(5):
            writer.submit(n)
        assert [writer.result() for _ in range(5)] == [0, 10, 20, 30, 40]
        with pytest.raises(RuntimeError, match="taken already"):
            writer.result()
    assert written == [0, 1, 2, 3, 4]


def test_at_most_depth_items_wait() -> None:
    release = threading.Event()
    started = threading.Event()

    def write(item: int) -> None:
        started.set()
        release.wait(10)

    with BackgroundWriter(write, depth=2, name="test-writer") as writer:
        writer.submit(0)
        assert started.wait(10)  # item 0 is being written
        writer.submit(1)
        writer.submit(2)  # two wait: the queue is full
        blocked = threading.Thread(target=writer.submit, args=(3,))
        blocked.start()
        blocked.join(0.3)
        assert blocked.is_alive()  # the fourth waits for room
        release.set()
        blocked.join(10)
        assert not blocked.is_alive()


def test_the_first_error_reaches_the_caller_and_nothing_is_written_after_it() -> None:
    written = []

    def write(item: int) -> None:
        if item == 2:
            raise ValueError("disk full")
        written.append(item)

    with pytest.raises(ValueError, match="disk full"), BackgroundWriter(write, depth=1, name="test-writer") as writer:
        for n in range(100):
            writer.submit(n)
    assert written == [0, 1]


def test_an_error_in_the_callers_block_stops_the_writer() -> None:
    written = []
    writing, gate = threading.Event(), threading.Event()

    def write(item: int) -> None:
        writing.set()
        gate.wait(10)
        written.append(item)

    with pytest.raises(KeyError), BackgroundWriter(write, depth=50, name="test-writer") as writer:
        for n in range(40):
            writer.submit(n)
        assert writing.wait(10)  # on a loaded machine the writer thread may not have started yet
        threading.Timer(0.2, gate.set).start()  # item 0 is still being written when the block fails
        raise KeyError("parse error")
    assert written == [0]
