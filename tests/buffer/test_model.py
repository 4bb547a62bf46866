"""Random sequences of push / get / ack / release / restart / crash checked against a simple model.

The model: records come out in push order; a released record comes out again first; after a restart or a
`kill -9` (a copy of the files without closing) everything after the longest acknowledged prefix comes out
again, in order (at-least-once), and nothing before it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import deque
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetel.buffer.base import Entry
from edgetel.buffer.disk.buffer import DiskBuffer
from tests.buffer.support import disk, number, numbered

ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(min_value=0, max_value=6000)),
        st.tuples(st.just("get"), st.just(0)),
        st.tuples(st.just("ack"), st.integers(min_value=0, max_value=10)),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=10)),
        st.tuples(st.sampled_from(["restart", "crash"]), st.just(0)),
    ),
    max_size=60,
)


async def run(steps: list[tuple[str, int]], root: Path) -> None:
    generation = 0
    directory = root / "g0"
    buf: DiskBuffer = disk(directory, segment_size=64 * 1024)
    await buf.open()
    log: list[int] = []  # numbers still in the buffer, in push order
    acked: set[int] = set()
    pending: deque[int] = deque()  # what get() must return next, in order
    handed: list[tuple[int, Entry]] = []
    n = 0
    for op, arg in steps:
        if op == "push":
            await buf.push(numbered(n, pad=arg))
            log.append(n)
            pending.append(n)
            n += 1
        elif op == "get":
            try:
                entry = await asyncio.wait_for(buf.get(), 0.05 if not pending else 5)
            except TimeoutError:
                entry = None
            if entry is None:
                assert not pending
            else:
                assert pending, "got a record the model does not have"
                assert number(entry.batch) == pending.popleft()
                handed.append((number(entry.batch), entry))
        elif op in ("ack", "release") and handed:
            num, entry = handed.pop(arg % len(handed))
            if op == "ack":
                buf.ack(entry)
                acked.add(num)
            else:
                buf.release(entry)
                pending.appendleft(num)
        elif op in ("restart", "crash"):
            if op == "crash":
                generation += 1
                new_dir = root / f"g{generation}"
                shutil.copytree(directory, new_dir, ignore=shutil.ignore_patterns("lock", "*.tmp"))
                await buf.close()  # the old copy; the new one is as a kill -9 would leave it
                directory = new_dir
            else:
                await buf.close()
            buf = disk(directory, segment_size=64 * 1024)
            await buf.open()
            while log and log[0] in acked:
                log.pop(0)
            acked.clear()
            pending = deque(log)
            handed = []
    # finally everything not in the acknowledged prefix is still there, in order
    rest = []
    while True:
        try:
            entry = await asyncio.wait_for(buf.get(), 0.05 if len(rest) >= len(pending) else 5)
        except TimeoutError:
            break
        assert entry is not None
        rest.append(number(entry.batch))
    assert rest == list(pending)
    await buf.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_operations_match_the_model(steps: list[tuple[str, int]]) -> None:
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:  # tmpfs: fsync costs nothing
        asyncio.run(run(steps, Path(tmp)))
