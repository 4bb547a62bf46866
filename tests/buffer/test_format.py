"""The record codec and the ledger: round trips, and every corruption is detected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgetel.buffer.disk import ledger
from edgetel.buffer.disk.format import (
    RECORD_HEADER_SIZE,
    FormatError,
    decode_record,
    decode_segment_header,
    encode_record,
    encode_segment_header,
)
from edgetel.component.ids import Signal

ids = st.integers(min_value=0, max_value=2**64 - 1)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
signals = st.sampled_from(list(Signal))


@given(ids, ids, u32, signals, st.binary(max_size=4096))
def test_record_round_trip(rid: int, t: int, items: int, sig: Signal, payload: bytes) -> None:
    rec = decode_record(encode_record(rid, t, items, sig, payload))
    assert (rec.id, rec.time_ms, rec.items, rec.signal, rec.payload) == (rid, t, items, sig, payload)


@given(ids, signals, st.binary(min_size=0, max_size=512), st.data())
def test_any_bit_flip_is_detected(rid: int, sig: Signal, payload: bytes, data: st.DataObject) -> None:
    raw = bytearray(encode_record(rid, 1, 2, sig, payload))
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(FormatError):
        decode_record(bytes(raw) + b"\0" * 64)  # padding: a grown length must not read past the end


@given(ids, signals, st.binary(max_size=512), st.data())
def test_any_truncation_is_detected(rid: int, sig: Signal, payload: bytes, data: st.DataObject) -> None:
    raw = encode_record(rid, 1, 2, sig, payload)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(FormatError):
        decode_record(raw[:cut])


@given(st.binary(min_size=RECORD_HEADER_SIZE, max_size=200))
def test_garbage_is_rejected_not_crashing(raw: bytes) -> None:
    try:
        decode_record(raw)
    except FormatError:
        pass


def test_zero_filled_record_is_rejected() -> None:
    with pytest.raises(FormatError):
        decode_record(b"\0" * 4096)


@given(ids, ids, st.data())
def test_segment_header(first: int, created: int, data: st.DataObject) -> None:
    raw = encode_segment_header(first, created)
    h = decode_segment_header(raw)
    assert (h.first_id, h.created_ms) == (first, created)
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    bad = bytearray(raw)
    bad[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(FormatError):
        decode_segment_header(bytes(bad))


positions = st.builds(ledger.Position, u32, u32, ids)


@given(positions, positions, st.data())
def test_ledger_round_trip_and_corruption(r: ledger.Position, w: ledger.Position, data: st.DataObject) -> None:
    raw = ledger.encode(ledger.Ledger(r, w))
    assert ledger.decode(raw) == ledger.Ledger(r, w)
    i = data.draw(st.integers(min_value=0, max_value=len(raw) - 2))
    bad = bytearray(raw)
    bad[i] = (bad[i] + data.draw(st.integers(min_value=1, max_value=255))) % 256
    try:
        assert ledger.decode(bytes(bad)) == ledger.Ledger(r, w)  # e.g. whitespace changed: same content
    except ledger.LedgerError:
        pass


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=12), st.data())
def test_a_damaged_segment_never_yields_bad_data_and_always_ends(payloads: list[bytes], data: st.DataObject) -> None:
    import os
    import tempfile

    from edgetel.buffer.disk.format import SEGMENT_HEADER_SIZE
    from edgetel.buffer.disk.segment import iter_records

    originals = {i: p for i, p in enumerate(payloads, start=10)}
    raw = bytearray(encode_segment_header(10, 0))
    for rid, p in originals.items():
        raw += encode_record(rid, 5, 1, Signal.METRICS, p)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        kind = data.draw(st.sampled_from(["flip", "zero", "truncate", "garbage"]))
        if len(raw) <= SEGMENT_HEADER_SIZE + 1:
            break
        at = data.draw(st.integers(min_value=SEGMENT_HEADER_SIZE, max_value=len(raw) - 1))
        if kind == "flip":
            raw[at] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
        elif kind == "zero":
            end = min(len(raw), at + data.draw(st.integers(min_value=1, max_value=200)))
            raw[at:end] = bytes(end - at)
        elif kind == "truncate":
            del raw[at:]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    with tempfile.TemporaryFile() as f:
        f.write(raw)
        f.flush()
        fd = f.fileno()
        offsets = []
        last_id = -1
        for rec, after in iter_records(fd, SEGMENT_HEADER_SIZE, len(raw), 4096):
            offsets.append(after)
            if rec is not None:
                assert originals[rec.id] == rec.payload  # never damaged data passed off as good
                assert rec.id > last_id
                last_id = rec.id
            assert len(offsets) <= len(raw)
        assert offsets == sorted(set(offsets))  # always forward: no loop
        os.fsync(fd)
