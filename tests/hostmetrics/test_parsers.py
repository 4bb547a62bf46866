"""The /proc parsers on generated input (hypothesis)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from edgetel.receivers.hostmetrics.filters import Matcher, NameFilter
from edgetel.receivers.hostmetrics.procfs import (
    TCP_STATES,
    _count_uniform,
    parse_diskstats,
    parse_meminfo,
    parse_mounts,
    parse_net_dev,
    parse_stat,
)
from tests.hostmetrics.peer import parse_text

counters = st.integers(min_value=0, max_value=2**64 - 1)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=15)
paths = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1)

HEADER = "Inter-| Receive | Transmit\n face |bytes packets ...\n"


@given(st.lists(st.tuples(names, st.lists(counters, min_size=16, max_size=16)), max_size=8))
def test_net_dev(rows: list[tuple[str, list[int]]]) -> None:
    text = HEADER + "".join(f"{n:>6}: {' '.join(map(str, v))}\n" for n, v in rows)
    assert parse_net_dev(text) == rows


@given(st.lists(st.tuples(names, st.lists(counters, min_size=11, max_size=17)), max_size=8))
def test_diskstats(rows: list[tuple[str, list[int]]]) -> None:
    text = "".join(f"   8 {i} {n} {' '.join(map(str, v))}\n" for i, (n, v) in enumerate(rows))
    parsed = parse_diskstats(text)
    assert [(p[2], p[3][: len(v)]) for p, (_, v) in zip(parsed, rows, strict=True)] == rows
    assert all(len(p[3]) == 17 for p in parsed)


@given(st.lists(st.lists(counters, min_size=8, max_size=10), min_size=1, max_size=8), counters)
def test_stat(cpus: list[list[int]], btime: int) -> None:
    text = "cpu  1 2 3 4 5 6 7 8\n" + "".join(f"cpu{i} {' '.join(map(str, v))}\n" for i, v in enumerate(cpus))
    st_ = parse_stat(text + f"intr 5 1 2\nbtime {btime}\nprocesses 9\n")
    assert st_.cpus == [(str(i), v) for i, v in enumerate(cpus)]
    assert (st_.btime, st_.intr, st_.processes) == (btime, 5, 9)


@given(st.dictionaries(st.from_regex(r"[A-Za-z_]+(\([a-z]+\))?", fullmatch=True), counters, max_size=10))
def test_meminfo(fields: dict[str, int]) -> None:
    text = "".join(f"{k}: {v} kB\n" for k, v in fields.items())
    assert parse_meminfo(text) == {k: (v * 1024, True) for k, v in fields.items()}


def _escape(path: str) -> str:
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012")


@given(paths, paths)
def test_mounts_unescape(device: str, mountpoint: str) -> None:
    (m,) = parse_mounts(f"{_escape(device)} {_escape(mountpoint)} ext4 ro,relatime 0 0\n")
    assert (m.device, m.mountpoint, m.fstype, m.mode) == (device, mountpoint, "ext4", "ro")


@given(names, st.lists(names, max_size=4))
def test_strict_filter(name: str, listed: list[str]) -> None:
    assert NameFilter(Matcher(listed))(name) == (name in listed)
    assert NameFilter(None, Matcher(listed))(name) == (name not in listed)


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.text(max_size=10), max_size=3),
       st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip
def test_exposition_parser(labels: dict[str, str], value: float) -> None:
    esc = {k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in labels.items()}
    body = ",".join(f'{k}="{v}"' for k, v in esc.items())
    line = f"m{{{body}}} {value!r}\n" if labels else f"m {value!r}\n"
    assert parse_text(line) == {("m", frozenset(labels.items())): value}


def _diag_msg(state: int, length: int) -> bytes:
    body = bytes([2, state]) + bytes(length - 18)
    return struct.pack("=IHHII", length, 20, 2, 1, 0) + body


@given(st.lists(st.sampled_from(range(1, 12)), min_size=1, max_size=200), st.sampled_from([88, 96, 124]))
def test_uniform_netlink_buffer_counting(states: list[int], length: int) -> None:
    data = b"".join(_diag_msg(s, length) for s in states)
    counts: dict[str, int] = {}
    assert _count_uniform(data, counts)
    expected: dict[str, int] = {}
    for s in states:
        name = TCP_STATES[f"{s:02X}"]
        expected[name] = expected.get(name, 0) + 1
    assert counts == expected
    # a mixed buffer is left to the per-message loop
    assert not _count_uniform(data + _diag_msg(1, length + 8), {})
