"""Reading serialized OTLP data points directly: much faster than field access through protobuf objects.

A gauge's or sum's points are serialized once (upb, C) and walked (translate.Translator._numbers); a point's
encoded attributes are the key of its series, so a known series costs one dict lookup and no attribute decoding.
"""

from __future__ import annotations

from edgetel.pdata.wire import read_varint, skip_value

__all__ = ["field_slice", "read_varint", "skip_field"]


def skip_field(buf: bytes, pos: int) -> int:
    """The position after the field whose tag starts at `pos`."""
    tag, pos = read_varint(buf, pos)
    return skip_value(buf, pos, tag & 7)


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
