"""`iterate_in_process` with shared memory: values arrive intact, memory is reused only
when the consumer is done with it, and no slot file outlives an iteration."""

import glob
import os
import pickle
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from import_pipeline import parallel
from import_pipeline.parallel import iterate_in_process


def filled(number: int, size: int) -> bytes:
    return bytes([number % 251]) * size


def sized_values(sizes: list[int], fail_at: int | None = None) -> Iterator[dict]:
    for number, size in enumerate(sizes):
        if number == fail_at:
            raise ValueError(f"failed at {number}")
        yield {"number": number, "data": memoryview(filled(number, size)), "small": b"kept in band"}


def slot_files() -> set[str]:
    return {path for folder in parallel._slot_folders() for path in glob.glob(os.path.join(folder, "import_pipeline-*"))}


def test_memoryviews_arrive_through_shared_memory_and_stay_intact_while_in_use() -> None:
    before = slot_files()
    # Sizes grow and shrink, so slots are reused and replaced by larger ones.
    sizes = [10, 300_000, 0, 2_000_000, 70_000, 5_000_000, 1_000_000, 3] * 3
    previous = None
    seen = 0
    for value in iterate_in_process(sized_values, {"sizes": sizes}, shared_in_use=1):
        assert isinstance(value["data"], memoryview) and value["data"].readonly
        assert value["data"] == filled(value["number"], sizes[value["number"]])
        assert value["small"] == b"kept in band"
        time.sleep(0.02)  # time for the child to fill every slot it may
        if previous is not None:  # the value before is still in use: its memory is untouched
            assert previous["data"] == filled(previous["number"], sizes[previous["number"]])
        previous = value
        seen += 1
    assert seen == len(sizes)
    assert slot_files() == before


def test_an_error_or_an_early_stop_leaves_no_slot_file() -> None:
    before = slot_files()
    with pytest.raises(ValueError, match="failed at 4"):
        for _ in iterate_in_process(sized_values, {"sizes": [1_000_000] * 9, "fail_at": 4}, shared_in_use=0):
            pass
    for value in iterate_in_process(sized_values, {"sizes": [1_000_000] * 50}, shared_in_use=0):
        if value["number"] == 2:
            break
    assert slot_files() == before


ORPHANED = """
import multiprocessing, os, signal, sys
from import_pipeline_tests.test_parallel import sized_values
from import_pipeline.parallel import iterate_in_process
if __name__ == "__main__":
    for value in iterate_in_process(sized_values, {"sizes": [1_000_000] * 1000}, shared_in_use=0):
        print(multiprocessing.active_children()[0].pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
"""


def exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_child_of_a_killed_parent_exits_and_removes_its_slot_files(tmp_path: Path) -> None:
    before = slot_files()
    script = tmp_path / "orphan.py"
    script.write_text(ORPHANED)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == -signal.SIGKILL
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 4 * parallel.POLL_SECONDS + 5
    while not exited(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert exited(child)
    assert slot_files() == before


def test_a_value_no_folder_has_room_for_goes_through_the_pipe_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    free: queue.Queue = queue.Queue()
    free.put(0)
    writer = parallel._SlotWriter(free, "import_pipeline-test-")
    monkeypatch.setattr(parallel, "_room", lambda folder: 0)
    kind, (data, index, path, spans) = writer.message({"data": memoryview(b"abc" * 100_000)})
    assert (index, path, spans) == (None, None, [])
    assert pickle.loads(data) == {"data": b"abc" * 100_000}
    assert free.get_nowait() == 0  # the slot it took is free again
    assert writer.made == []
