"""Consistent probability sampling: thresholds, randomness and the `ot=th:` tracestate entry."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgetel.processors.tailsampling.tracestate import (
    MAX_THRESHOLD,
    adjusted_count,
    decode_threshold,
    encode_threshold,
    existing_threshold,
    randomness,
    threshold_for,
    with_threshold,
)


def test_thresholds_from_the_specification() -> None:
    assert threshold_for(100) == 0
    assert encode_threshold(threshold_for(100)) == "0"
    assert encode_threshold(threshold_for(50)) == "8"
    assert encode_threshold(threshold_for(25)) == "c"
    assert encode_threshold(threshold_for(1)) == "fd70a3d70a3d71"
    assert encode_threshold(threshold_for(10)) == "e6666666666666"
    assert threshold_for(0) == MAX_THRESHOLD


def test_decode_pads_and_rejects_garbage() -> None:
    assert decode_threshold("8") == 1 << 55
    assert decode_threshold("0") == 0
    assert decode_threshold("fd70a4") == 0xFD70A4 << 32
    for bad in ("", "g", "+1", "-1", "123456789abcdef", "AB"):
        assert decode_threshold(bad) is None


@given(st.integers(min_value=0, max_value=MAX_THRESHOLD - 1))
def test_encode_roundtrip(t: int) -> None:
    assert decode_threshold(encode_threshold(t)) == t


def test_randomness_is_the_trace_ids_last_56_bits_or_rv() -> None:
    tid = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert randomness(tid) == 0xCE929D0E0E4736
    assert randomness(tid, "ot=rv:00000000000001;th:0") == 1
    assert randomness(tid, "ot=rv:xyz") == 0xCE929D0E0E4736


def test_known_trace_ids_against_the_threshold_rule() -> None:
    t = threshold_for(1)  # keep when R >= fd70a3d70a3d71
    keep = bytes.fromhex("0000000000000000" + "00fd70a3d70a3d71")
    below = bytes.fromhex("0000000000000000" + "00fd70a3d70a3d70")
    top = bytes.fromhex("ffffffffffffffff" + "00ffffffffffffff")
    assert randomness(keep) >= t
    assert randomness(below) < t
    assert randomness(top) >= t


def test_with_threshold_keeps_other_entries_and_moves_ot_first() -> None:
    assert with_threshold("", 0) == "ot=th:0"
    out = with_threshold("congo=t61rcWkgMzE,ot=rv:0123456789abcd;x:y,rojo=00f067aa0ba902b7", threshold_for(1))
    assert out == "ot=th:fd70a3d70a3d71;rv:0123456789abcd;x:y,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def test_with_threshold_never_lowers_an_upstream_threshold() -> None:
    # A head sampler kept the trace at 10%: a later 100% keep still represents 10 traces.
    assert with_threshold("ot=th:e666", 0) == "ot=th:e666"
    assert with_threshold("ot=th:8", threshold_for(1)) == "ot=th:fd70a3d70a3d71"
    assert existing_threshold("ot=th:8;rv:00000000000000") == 1 << 55
    assert existing_threshold("vendor=th:8") is None


def test_adjusted_count() -> None:
    assert adjusted_count(0) == 1.0
    assert round(adjusted_count(threshold_for(1)), 6) == 100.0
    assert adjusted_count(MAX_THRESHOLD) == 0.0


@given(st.text(max_size=300), st.integers(min_value=0, max_value=MAX_THRESHOLD - 1))
def test_any_tracestate_gets_a_valid_threshold_entry_first(tracestate: str, t: int) -> None:
    out = with_threshold(tracestate, t)
    first = out.split(",")[0]
    assert first.startswith("ot=th:")
    th = decode_threshold(first[len("ot=th:") :].split(";")[0])
    assert th is not None and th >= t
    assert existing_threshold(out) == th
    assert len(out.split(",")) <= 32
    assert 0 <= randomness(b"\x00" * 16, tracestate) < 1 << 56
