"""The mapped counters file's two paths agree: the compiled gate (``_ledger_ops.c``, with its settles
published without the lock) and the Python one give the same answers over the same operations (to the
rounding of a different order of additions); both wait for the file's lock held by another thread or
process instead of going past it, and take it over from a process killed while holding it."""

from __future__ import annotations

import errno
import math
import os
import random
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.budgets import counter_map
from ai_usage_monitor.budgets import gate as gate_module
from ai_usage_monitor.budgets.counter_map import CounterMap, LedgerFull
from ai_usage_monitor.budgets.gate import PyGate

COMPILED = counter_map.COMPILED_GATE


def test_the_compiled_gate_is_built() -> None:
    """The install compiles ``_ledger_ops`` where a C compiler is (as on every machine this suite runs on);
    without it the guard still works, in Python, but slower (docs/budgets.md)."""
    assert COMPILED is not None, "budgets._ledger_ops was not built: reinstall with a C compiler"
    assert COMPILED.__module__ == "ai_usage_monitor.budgets._ledger_ops"


def open_pair(folder: Path, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[CounterMap, CounterMap]:
    """Two maps of one file (two processes' views of it), with the compiled gate or the Python one."""
    monkeypatch.setattr(counter_map, "COMPILED_GATE", COMPILED if compiled else None)
    monkeypatch.setattr(counter_map, "_INITIAL_COUNTERS", 4)
    path = folder / "counters.bin"
    first, second = CounterMap(path, reservation_slots=6), CounterMap(path, reservation_slots=6)
    expected = PyGate if not compiled else COMPILED
    assert isinstance(first.gate, expected)  # type: ignore[arg-type]
    return first, second


def replay(maps: tuple[CounterMap, CounterMap], seed: int, start: float) -> list[Any]:
    """A random run of every operation on both views of one file, on a simulated clock from ``start``; what
    each answered (tokens as the kind they are: their random part differs between runs)."""
    rng = random.Random(seed)
    now = start
    assigned = [(0, 11), (1, 12)]
    for slot, counter_id in assigned:
        maps[0].assign(slot, counter_id)
    held: list[tuple[int, tuple[int, int]]] = []
    answers: list[Any] = []
    for step in range(600):
        view = maps[rng.randrange(2)]
        now += rng.choice((0.0, 0.01, 0.5, 3.0))
        op = rng.random()
        if op < 0.04 and len(assigned) < 12:  # a new counter past the other view's mapping (the file grows)
            counter = (len(assigned) * 3 % 13 + 2, 100 + step)
            maps[1 - maps.index(view)].assign(*counter)
            assigned.append(counter)
            answers.append(("assign", counter))
            continue
        counter = rng.choice(assigned)
        if op < 0.5:
            amount = rng.choice((0.5, 1.25, 3.0, 0.1 * rng.randrange(40)))
            try:
                got = view.reserve(counter, amount, 20.0, now, now + rng.choice((2.0, 30.0)))
            except LedgerFull as exc:
                answers.append(("full", exc.spent, exc.reserved))
                continue
            if isinstance(got, int):
                held.append((got, counter))
                answers.append(("held", type(got).__name__))
            else:
                answers.append(("reserve", got))
        elif op < 0.85 and held:
            token, owner = held.pop(rng.randrange(len(held)))
            # now and then a token settled on another counter than the one it was held on
            settle_on = owner if rng.random() < 0.9 else rng.choice(assigned)
            answers.append(("settle", view.settle(token, settle_on, rng.choice((0.0, 0.3, 1.1)))))
        elif op < 0.95:
            answers.append(("add", view.add(counter, 0.7)))
        else:
            answers.append(("stale", view.reserve((counter[0], counter[1] + 1), 1.0, 20.0, now, now + 5.0)))
        answers.append(("read", view.read(assigned, now)))
    for view in maps:
        view.close()
    return answers


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compiled_and_the_python_paths_answer_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    start = time.time()  # leases far from their end: the compiled gate settles without the lock
    python = replay(open_pair(tmp_path / "python", False, monkeypatch), seed, start)
    compiled = replay(open_pair(tmp_path / "compiled", True, monkeypatch), seed, start)
    kinds = {answer[0] for answer in compiled}
    assert {"assign", "held", "reserve", "full", "settle", "add", "stale"} <= kinds  # every path was taken
    assert len(compiled) == len(python)
    for got, expected in zip(compiled, python, strict=True):
        assert alike(got, expected), (got, expected)


def alike(got: Any, expected: Any) -> bool:
    """Equal, floats to the rounding of sums made in another order."""
    if isinstance(got, float) and isinstance(expected, float):
        return math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(got, list | tuple) and isinstance(expected, list | tuple):
        return len(got) == len(expected) and all(alike(g, e) for g, e in zip(got, expected, strict=True))
    return bool(got == expected)


def test_the_c_path_waits_for_another_thread_of_the_process(tmp_path: Path) -> None:
    counters = CounterMap(tmp_path / "counters.bin")
    counters.assign(0, 5)
    counters._acquire()  # as a slow path (a sweep, a growth) holds it
    done = threading.Event()

    def reserve() -> None:
        counters.reserve((0, 5), 1.0, 10.0, time.time(), time.time() + 60)
        done.set()

    thread = threading.Thread(target=reserve)
    thread.start()
    assert not done.wait(0.3)
    counters._release()
    assert done.wait(5)
    thread.join()
    assert counters.read([(0, 5)], time.time()) == [(0.0, 1.0)]
    counters.close()


#: another process holding the file's lock (through its compiled gate, or its Python one: argv[3] "python")
_HOLD_LOCK = """
import os, sys, time
from pathlib import Path
from ai_usage_monitor.budgets import counter_map
if sys.argv[3] == "python":
    counter_map.COMPILED_GATE = None
counters = counter_map.CounterMap(Path(sys.argv[1]))
counters._acquire()
print("held", flush=True)
if sys.argv[2] == "die":  # killed inside an operation: the lock is never released by the process
    time.sleep(60)
time.sleep(float(sys.argv[2]))
counters._release()
"""


def hold_lock(path: Path, how: str, gate: str) -> subprocess.Popen[str]:
    """A process holding the file's lock: for ``how`` seconds, or until it is killed (``"die"``); the test
    fails (and the process is killed) when it cannot take it within 20 s."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path), how, gate], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    ready, _, _ = select.select([holder.stdout], [], [], 20)
    if not ready:
        holder.kill()
        holder.wait()
        pytest.fail("another process could not take the file's lock")
    assert holder.stdout.readline().strip() == "held"
    return holder


def one_counter(folder: Path, monkeypatch: pytest.MonkeyPatch, compiled: bool) -> CounterMap:
    """A counters file with counter (0, 5), seen through the compiled gate or the Python one."""
    if not compiled:
        monkeypatch.setattr(counter_map, "COMPILED_GATE", None)
    counters = CounterMap(folder / "counters.bin")
    counters.assign(0, 5)
    return counters


@pytest.mark.parametrize("holder_gate", ["compiled", "python"])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_an_operation_waits_for_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: bool, holder_gate: str
) -> None:
    counters = one_counter(tmp_path, monkeypatch, compiled)
    holder = hold_lock(counters.path, "0.5", holder_gate)
    try:
        started = time.monotonic()
        token = counters.reserve((0, 5), 1.0, 10.0, time.time(), time.time() + 60)
        waited = time.monotonic() - started
    finally:
        holder.wait(10)
    assert isinstance(token, int)
    assert waited > 0.2  # it waited for the other process's lock (about 0.5 s after "held")
    assert counters.read([(0, 5)], time.time()) == [(0.0, 1.0)]
    counters.close()


@pytest.mark.parametrize("holder_gate", ["compiled", "python"])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_a_process_killed_holding_the_lock_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: bool, holder_gate: str
) -> None:
    """The kernel marks a dead holder's mutex: the next operation takes it over instead of waiting forever."""
    counters = one_counter(tmp_path, monkeypatch, compiled)
    holder = hold_lock(counters.path, "die", holder_gate)
    waiting = threading.Thread(target=counters.add, args=((0, 5), 2.0))
    waiting.start()  # waits for the holder...
    time.sleep(0.2)
    assert waiting.is_alive()
    holder.kill()  # ...which dies holding it
    holder.wait(10)
    waiting.join(10)
    assert not waiting.is_alive()
    assert counters.reserve((0, 5), 1.0, 10.0, time.time(), time.time() + 60) is not None
    assert counters.read([(0, 5)], time.time()) == [(2.0, 1.0)]
    # and again from another process (the mutex was made consistent, not left owner-dead)
    holder = hold_lock(counters.path, "0", holder_gate)
    holder.wait(10)
    counters.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_child_forked_while_a_thread_holds_the_gate_takes_its_own(tmp_path: Path) -> None:
    counters = CounterMap(tmp_path / "counters.bin")
    counters.assign(0, 5)
    counters._acquire()  # another thread of the parent is inside an operation at the fork
    pid = os.fork()
    if pid == 0:  # the child: the inherited lock would be held forever; its own gate is free
        code = 0
        try:
            token = counters.reserve((0, 5), 1.0, 10.0, time.time(), time.time() + 60)
            code = 0 if isinstance(token, int) else 1
        except BaseException:
            code = 2
        os._exit(code)
    # the parent keeps the file's lock until the child would have had to wait: release it, then it runs
    time.sleep(0.2)
    counters._release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert counters.read([(0, 5)], time.time()) == [(0.0, 1.0)]
    counters.close()


def held(counters: CounterMap, amount: float, lease: float) -> tuple[int, int]:
    """A reservation of ``amount`` on counter (0, 5): its token and the word of its table entry."""
    token = counters.reserve((0, 5), amount, 10.0, time.time(), time.time() + lease)
    assert isinstance(token, int)
    return token, counter_map._HEADER_WORDS + (token & counter_map._INDEX_MASK) * counter_map._ENTRY_WORDS


def test_a_settle_far_from_its_lease_end_is_published_and_folded_in_by_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled gate's settle leaves the cost in the entry; the next locked operation of any view of
    the file (here one without the compiled gate, as a process built without a compiler) counts it."""
    compiled = CounterMap(tmp_path / "counters.bin")
    monkeypatch.setattr(counter_map, "COMPILED_GATE", None)
    python = CounterMap(tmp_path / "counters.bin")
    compiled.assign(0, 5)
    token, entry = held(compiled, 2.0, 900)
    assert compiled.settle(token, (0, 5), 0.75) == 0.75  # the spend with the published settle in it
    assert compiled._q[entry] < 0  # published, not yet folded in: the counter still holds the reservation
    counter = compiled._counters_at
    assert (compiled._d[counter + 1], compiled._d[counter + 2]) == (0.0, 2.0)
    assert python.read([(0, 5)], time.time()) == [(0.75, 0.0)]
    assert compiled._q[entry] == 0
    # near its lease end a settle takes the locks (a sweep may be about to drop the reservation)
    token, _ = held(compiled, 2.0, 1.0)
    assert compiled.settle(token, (0, 5), 0.25) == 1.0
    assert (compiled._d[counter + 1], compiled._d[counter + 2]) == (1.0, 0.0)
    compiled.close()
    python.close()


@pytest.mark.parametrize(("magic", "suffix"), [(b"AIUMCNT1", ".v1"), (b"AIUMCNT2", ".v2")])
def test_a_counters_file_of_a_previous_layout_is_moved_aside(
    tmp_path: Path, magic: bytes, suffix: str
) -> None:
    """Its processes would drop settles published in the table (v1), or lock the file with flock, past this
    layout's mutex (v2): the new layout starts a file of its own (the directory then sees a new file id and
    seeds the periods again from the records)."""
    path = tmp_path / "counters.bin"
    old_header = counter_map._HEADER.pack(magic, 42, 16, 4, 0, math.inf, 0, 0)
    path.write_bytes(old_header + bytes(counter_map._WORD * (16 * 5 + 4 * 4)))
    counters = CounterMap(path)
    counters.assign(0, 5)
    assert counters.file_id != 42
    assert isinstance(counters.reserve((0, 5), 1.0, 10.0, time.time(), time.time() + 60), int)
    assert path.read_bytes()[:8] == b"AIUMCNT3"
    assert (tmp_path / f"counters.bin{suffix}").read_bytes()[:8] == magic
    counters.close()


def test_a_file_left_without_its_header_is_made_again(tmp_path: Path) -> None:
    """A process killed while it laid a new file out leaves it sized, without its magic (written last)."""
    path = tmp_path / "counters.bin"
    path.write_bytes(bytes(counter_map._WORD * 64))
    counters = CounterMap(path)
    counters.assign(0, 5)
    assert isinstance(counters.reserve((0, 5), 1.0, 10.0, time.time(), time.time() + 60), int)
    assert path.read_bytes()[:8] == b"AIUMCNT3"
    counters.close()


def test_a_sweep_never_frees_an_entry_whose_settle_was_published_after_it_looked(tmp_path: Path) -> None:
    counters = CounterMap(tmp_path / "counters.bin")
    counters.assign(0, 5)
    token, entry = held(counters, 2.0, 900)
    counters.settle(token, (0, 5), 0.5)  # published: the entry now holds the cost, not the token
    assert counters._q[entry] < 0
    counters._acquire()
    try:  # what a sweep that read the token before the settle would do: the entry is kept
        assert not counters._clear_entry(entry, token)
    finally:
        counters._release()
    assert counters.read([(0, 5)], time.time()) == [(0.5, 0.0)]


def test_the_entries_in_use_bound_falls_back_once_a_burst_is_folded_in(tmp_path: Path) -> None:
    """Every locked operation scans the table up to that bound: after a burst it must not stay high."""
    counters = CounterMap(tmp_path / "counters.bin")
    counters.assign(0, 5)
    now = time.time()
    tokens = [counters.reserve((0, 5), 1.0, 100.0, now, now + 900) for _ in range(40)]
    assert counters._q[counter_map._TOP] == 40
    for token in tokens:
        assert isinstance(token, int)
        counters.settle(token, (0, 5), 0.25)
    assert counters.read([(0, 5)], time.time()) == [(10.0, 0.0)]
    assert counters._q[counter_map._TOP] == 0
    counters.close()


def test_a_python_gate_interrupted_right_after_taking_the_lock_lets_go_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal's exception can strike between the ``ctypes`` call that took the mutex and the gate's
    note of it: the gate then releases what it holds (an error-checking mutex tells its holder so)."""
    counters = one_counter(tmp_path, monkeypatch, compiled=False)

    def interrupted(rc: int, doing: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gate_module, "_check", interrupted)
    with pytest.raises(KeyboardInterrupt):
        counters.reserve((0, 5), 1.0, 10.0, time.time(), time.time() + 60)
    monkeypatch.undo()
    assert hold_lock(counters.path, "0", "compiled").wait(10) == 0  # another process takes it at once
    assert isinstance(counters.reserve((0, 5), 1.0, 10.0, time.time(), time.time() + 60), int)
    counters.close()


def test_a_python_gate_interrupted_before_making_a_dead_holders_lock_consistent_leaves_it_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Released as it was found (owner-dead, not made consistent), the mutex could never be taken again:
    the gate makes it consistent before it lets go."""
    counters = one_counter(tmp_path, monkeypatch, compiled=False)
    hold_lock(counters.path, "die", "python").kill()
    time.sleep(0.2)  # the kernel marks the mutex owner-dead as its holder exits
    took = gate_module._Pthread.took

    def interrupted(self: gate_module._Pthread, address: int, rc: int) -> int:
        if rc == errno.EOWNERDEAD:
            raise KeyboardInterrupt
        return took(self, address, rc)

    monkeypatch.setattr(gate_module._Pthread, "took", interrupted)
    with pytest.raises(KeyboardInterrupt):
        counters.add((0, 5), 2.0)
    monkeypatch.undo()
    assert hold_lock(counters.path, "0", "compiled").wait(10) == 0
    assert counters.add((0, 5), 2.0) == 2.0
    counters.close()
