"""The protobuf wire format, read directly from serialized OTLP bytes (varints and skipping fields), for the
paths where walking bytes is cheaper than field access through protobuf objects."""

from __future__ import annotations


class WireError(ValueError):
    """The bytes are not valid protobuf wire format."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def skip_value(buf: bytes, pos: int, wire_type: int) -> int:
    """The position after a field's value of `wire_type` that starts at `pos` (its tag already read)."""
    if wire_type == 0:
        return read_varint(buf, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 2:
        n, pos = read_varint(buf, pos)
        return pos + n
    if wire_type == 5:
        return pos + 4
    raise WireError(f"unsupported wire type {wire_type}")
