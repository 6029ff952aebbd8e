"""`iterate_in_process`: values arrive intact and stay so, errors and early stops end the
child, and the child of a killed parent exits at once, leaving nothing behind."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from import_pipeline.parallel import iterate_in_process


def filled(number: int, size: int) -> bytes:
    return bytes([number % 251]) * size


def sized_values(sizes: list[int], fail_at: int | None = None) -> Iterator[dict]:
    for number, size in enumerate(sizes):
        if number == fail_at:
            raise ValueError(f"failed at {number}")
        yield {"number": number, "data": memoryview(filled(number, size)), "small": b"kept in band"}


def test_memoryviews_arrive_out_of_band_and_stay_intact_while_kept() -> None:
    sizes = [10, 300_000, 0, 2_000_000, 70_000, 5_000_000, 1_000_000, 3] * 3
    kept = []
    for value in iterate_in_process(sized_values, {"sizes": sizes}, out_of_band=True):
        assert isinstance(value["data"], memoryview) and value["data"].readonly
        assert value["small"] == b"kept in band"
        kept.append(value)
    assert [v["number"] for v in kept] == list(range(len(sizes)))
    # Every value the consumer kept is still intact: nothing is reused under it.
    assert all(v["data"] == filled(v["number"], sizes[v["number"]]) for v in kept)


def can_import(module: str) -> Iterator[bool]:
    try:
        __import__(module)
    except ImportError:
        yield False
    else:
        yield True


def test_modules_can_be_made_unimportable_in_the_child() -> None:
    assert list(iterate_in_process(can_import, {"module": "pandas"})) == [True]
    assert list(iterate_in_process(can_import, {"module": "pandas"}, unimportable=("pandas",))) == [False]


def test_memoryviews_need_out_of_band() -> None:
    with pytest.raises(RuntimeError, match="cannot pickle memoryview"):
        list(iterate_in_process(sized_values, {"sizes": [10]}))


def test_an_error_or_an_early_stop_ends_the_child() -> None:
    with pytest.raises(ValueError, match="failed at 4"):
        for _ in iterate_in_process(sized_values, {"sizes": [1_000_000] * 9, "fail_at": 4}, out_of_band=True):
            pass
    for value in iterate_in_process(sized_values, {"sizes": [1_000_000] * 50}, out_of_band=True):
        if value["number"] == 2:
            break
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert multiprocessing.active_children() == []


ORPHANED = """
import multiprocessing, os, signal, sys
from import_pipeline_tests.test_parallel import big_values, sized_values, slow_values
from import_pipeline.parallel import iterate_in_process
if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "shared":
        values = iterate_in_process(sized_values, {"sizes": [1_000_000] * 1000}, out_of_band=True)
    elif mode == "piped":  # 50 MB values: the child is blocked sending when the parent dies
        values = iterate_in_process(big_values, {})
    else:  # the child is busy computing, not sending, when the parent dies
        values = iterate_in_process(slow_values, {})
    for value in values:
        print(multiprocessing.active_children()[0].pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
"""


def big_values() -> Iterator[bytes]:
    for number in range(20):
        yield filled(number, 50_000_000)


def slow_values() -> Iterator[int]:
    yield 1
    while True:
        sum(range(1_000_000))


def exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("mode", ["shared", "piped", "busy"])
def test_the_child_of_a_killed_parent_exits_at_once_and_leaves_nothing(tmp_path: Path, mode: str) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(ORPHANED)
    root = Path(__file__).resolve().parents[1]
    parent = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True, cwd=root,
                              env={**os.environ, "PYTHONPATH": str(root)})
    # The orphan holds the script's output open: a child that lives on makes this time out.
    output, _ = parent.communicate(timeout=60)
    assert parent.returncode == -signal.SIGKILL
    child = int(output.split()[0])
    deadline = time.monotonic() + 2
    while not exited(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert exited(child), "the child outlived its parent by 2 s"


def test_no_named_semaphore_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    # A named semaphore (/dev/shm/sem.mp-*) outlives a process killed with -9: none may be made.
    import multiprocessing.synchronize

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a multiprocessing semaphore was made")

    monkeypatch.setattr(multiprocessing.synchronize.SemLock, "__init__", refuse)
    values = iterate_in_process(sized_values, {"sizes": [1_000] * 5}, out_of_band=True)
    assert [value["number"] for value in values] == [0, 1, 2, 3, 4]


UNGUARDED = """
from import_pipeline_tests.test_parallel import sized_values
from import_pipeline.parallel import iterate_in_process
# No `if __name__ == "__main__":` guard, as in many a user's script.
print(sum(v["number"] for v in iterate_in_process(sized_values, {"sizes": [10] * 5}, out_of_band=True)))
"""


def test_a_script_without_a_main_guard_works(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=root, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["10"]


def stubborn_values(count: int) -> Iterator[dict]:
    """Values from a child whose own code ignores SIGTERM."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    yield from sized_values([1_000_000] * count)


STOPPED_EARLY = """
import signal, sys
from import_pipeline_tests.test_parallel import sized_values, stubborn_values
from import_pipeline.parallel import iterate_in_process
if sys.argv[1] == "ignored-by-parent":
    # As a process started with SIGTERM ignored: children inherit that across exec.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    values = iterate_in_process(sized_values, {"sizes": [1_000_000] * 50}, out_of_band=True)
else:
    values = iterate_in_process(stubborn_values, {"count": 50}, out_of_band=True)
for value in values:
    if value["number"] == 2:
        break
values.close()  # as when the caller's function returns and drops it
print("stopped")
"""


@pytest.mark.parametrize("mode", ["ignored-by-parent", "ignored-by-child"])
def test_an_early_stop_ends_a_child_that_ignores_sigterm(tmp_path: Path, mode: str) -> None:
    script = tmp_path / "stopped_early.py"
    script.write_text(STOPPED_EARLY)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, cwd=root, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["stopped"]
