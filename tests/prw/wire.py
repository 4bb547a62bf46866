"""A small independent protobuf reader for checking what the exporter puts on the wire."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any


def fields(buf: bytes) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            val, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((num, val))
    return out


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


@dataclass
class Series:
    labels: list[tuple[str, str]]
    samples: list[tuple[bytes, int]] = field(default_factory=list)  # (8 value bytes, timestamp ms)
    histograms: list[bytes] = field(default_factory=list)

    @property
    def name(self) -> str:
        return dict(self.labels)["__name__"]

    def value(self, i: int = 0) -> float:
        return float(struct.unpack("<d", self.samples[i][0])[0])


@dataclass
class WriteRequest:
    series: list[Series]
    metadata: list[dict[int, Any]]


def write_request(body: bytes) -> WriteRequest:
    series, metadata = [], []
    for num, val in fields(body):
        if num == 1:
            s = Series([])
            for n2, v2 in fields(val):
                if n2 == 1:
                    lbl = dict(fields(v2))
                    s.labels.append((lbl.get(1, b"").decode(), lbl.get(2, b"").decode()))
                elif n2 == 2:
                    smp = dict(fields(v2))
                    s.samples.append((smp.get(1, b"\0" * 8), smp.get(2, 0)))
                elif n2 == 4:
                    s.histograms.append(v2)
            series.append(s)
        elif num == 3:
            metadata.append(dict(fields(val)))
        else:
            raise AssertionError(f"unexpected WriteRequest field {num}")
    return WriteRequest(series, metadata)
