"""Remote-write 1.0 wire encoding, by hand: `prometheus.WriteRequest` is a handful of fields.

WriteRequest: timeseries=1, metadata=3. TimeSeries: labels=1, samples=2, histograms=4. Label: name=1, value=2.
Sample: value=1 (double), timestamp=2 (int64 ms). Every sample goes out as its own TimeSeries entry (as
Prometheus' own sender does), so a request body is the concatenation of entries and a series' encoded labels
(with the entry header) are built once and reused for every later sample.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import cramjam

STALE_NAN_BITS = 0x7FF0000000000002
STALE = struct.pack("<Q", STALE_NAN_BITS)  # the 8 bytes of Prometheus' staleness marker
pack_double = struct.Struct("<d").pack

# MetricMetadata.type
UNKNOWN, COUNTER, GAUGE, HISTOGRAM, GAUGEHISTOGRAM, SUMMARY, INFO, STATESET = range(8)
# Histogram.reset_hint
RESET_UNKNOWN, RESET_YES, RESET_NO, RESET_GAUGE = range(4)


def varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _len_field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + varint(len(payload)) + payload


def _str_field(tag: int, text: str) -> bytes:
    return _len_field(tag, text.encode())


def encode_labels(labels: Iterable[tuple[str, str]]) -> bytes:
    """TimeSeries.labels fields, sorted by name, empty names and values dropped (names must be unique)."""
    out = []
    for name, value in sorted(labels):
        if name and value:
            out.append(_len_field(0x0A, _str_field(0x0A, name) + _str_field(0x12, value)))
    return b"".join(out)


class TimestampCache:
    """`Sample.timestamp` field bytes (tag + varint) by ms timestamp: a batch's points share few timestamps."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[int, bytes] = {}

    def get(self, ts_ms: int) -> bytes:
        tsb = self._cache.get(ts_ms)
        if tsb is None:
            if len(self._cache) >= 4096:
                self._cache.clear()
            tsb = self._cache[ts_ms] = b"\x10" + varint(ts_ms & 0xFFFFFFFFFFFFFFFF)
        return tsb


def float_prefix(labels: bytes) -> bytes:
    """The bytes of a one-sample TimeSeries entry before the value, for a 6-byte timestamp varint
    (ms timestamps from 1971 to 2109): entry = prefix + 8 value bytes + timestamp field bytes."""
    return b"\x0a" + varint(len(labels) + 18) + labels + b"\x12\x10\x09"


def float_entry(prefix: bytes, value_bytes: bytes, tsb: bytes) -> bytes:
    """One TimeSeries entry with one sample; `value_bytes` is the 8-byte little-endian double."""
    if len(tsb) == 7:
        return prefix + value_bytes + tsb
    labels = labels_of(prefix)
    sample = b"\x09" + value_bytes + tsb
    body = labels + b"\x12" + varint(len(sample)) + sample
    return b"\x0a" + varint(len(body)) + body


def labels_of(prefix: bytes) -> bytes:
    """The encoded labels inside a `float_prefix`."""
    pos = 1
    while prefix[pos] & 0x80:
        pos += 1
    return prefix[pos + 1 : -3]


def histogram_entry(labels: bytes, histogram: bytes) -> bytes:
    body = labels + _len_field(0x22, histogram)
    return b"\x0a" + varint(len(body)) + body


def _spans(tag: int, spans: Sequence[tuple[int, int]]) -> bytes:
    out = []
    for offset, length in spans:
        out.append(_len_field(tag, b"\x08" + varint(zigzag(offset)) + b"\x10" + varint(length)))
    return b"".join(out)


def _deltas(tag: int, deltas: Sequence[int]) -> bytes:
    if not deltas:
        return b""
    return _len_field(tag, b"".join(varint(zigzag(d)) for d in deltas))


def native_histogram(
    *,
    count: int,
    sum_bytes: bytes,
    schema: int,
    zero_threshold: float,
    zero_count: int,
    positive: tuple[Sequence[tuple[int, int]], Sequence[int]],
    negative: tuple[Sequence[tuple[int, int]], Sequence[int]],
    timestamp_ms: int,
    reset_hint: int = RESET_UNKNOWN,
) -> bytes:
    """A `prometheus.Histogram` with integer counts; spans are (offset, length), deltas per bucket."""
    parts = [
        b"\x08" + varint(count & 0xFFFFFFFFFFFFFFFF),
        b"\x19" + sum_bytes,
        b"\x20" + varint(zigzag(schema)),
        b"\x29" + pack_double(zero_threshold),
        b"\x30" + varint(zero_count),
        _spans(0x42, negative[0]),
        _deltas(0x4A, negative[1]),
        _spans(0x5A, positive[0]),
        _deltas(0x62, positive[1]),
        b"\x70" + varint(reset_hint),
        b"\x78" + varint(timestamp_ms & 0xFFFFFFFFFFFFFFFF),
    ]
    return b"".join(parts)


def metadata_entry(metric_type: int, family: str, help_text: str, unit: str) -> bytes:
    """One WriteRequest.metadata field."""
    body = b"\x08" + varint(metric_type) + _str_field(0x12, family)
    if help_text:
        body += _str_field(0x22, help_text)
    if unit:
        body += _str_field(0x2A, unit)
    return _len_field(0x1A, body)


class Requests:
    """Request bodies being filled, each at most `max_samples` entries and `max_bytes` bytes (one oversized
    entry still goes out alone). Hot loops inline `append` on `buf` and `count`."""

    __slots__ = ("bodies", "buf", "count", "max_bytes", "max_samples", "total")

    def __init__(self, max_samples: int, max_bytes: int) -> None:
        self.max_samples = max_samples
        self.max_bytes = max_bytes
        self.bodies: list[tuple[bytearray, int]] = []
        self.buf = bytearray()
        self.count = 0
        self.total = 0  # entries in `bodies`

    def append(self, entry: bytes) -> None:
        if self.count and (self.count >= self.max_samples or len(self.buf) + len(entry) > self.max_bytes):
            self.roll()
        self.buf += entry
        self.count += 1

    def roll(self) -> None:
        if self.count:
            self.bodies.append((self.buf, self.count))
            self.total += self.count
            self.buf = bytearray()
            self.count = 0

    def samples(self) -> int:
        return self.total + self.count

    def finish(self) -> list[tuple[bytearray, int]]:
        self.roll()
        return self.bodies


def compress(body: bytes | bytearray) -> bytes:
    """Snappy BLOCK format (remote-write forbids the framed format)."""
    return bytes(cramjam.snappy.compress_raw(body))
