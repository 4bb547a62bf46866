"""Reading serialized OTLP data points directly: much faster than field access through protobuf objects.

A gauge's or sum's points are serialized once (upb, C) and walked (translate.Translator._numbers); a point's
encoded attributes are the key of its series, so a known series costs one dict lookup and no attribute decoding.
"""

from __future__ import annotations


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def skip_field(buf: bytes, pos: int) -> int:
    """The position after the field whose tag starts at `pos`."""
    tag, pos = read_varint(buf, pos)
    wire = tag & 7
    if wire == 0:
        return read_varint(buf, pos)[1]
    if wire == 1:
        return pos + 8
    if wire == 2:
        length, pos = read_varint(buf, pos)
        return pos + length
    if wire == 5:
        return pos + 4
    raise ValueError(f"unsupported wire type {wire}")


def field_slice(buf: bytes, tag: int) -> bytes:
    """The encoded occurrences (tags included) of one length-delimited top-level field, in order; the
    serializer writes a repeated field's elements contiguously."""
    pos, end, out = 0, len(buf), []
    while pos < end:
        nxt = skip_field(buf, pos)
        if buf[pos] == tag:
            out.append(buf[pos:nxt])
        pos = nxt
    return b"".join(out)
