"""Intake: a request's spans grouped per (resource, scope) block and per trace id, with what the sampler needs
of each group, so that the processor's per-span work happens once per trace and batch.

The compiled walker (`edgetel._native.tailsampling.walk`) reads the received bytes once and never touches the
parsed message (a request without received bytes is serialized once for it). `walk_message` is its reference
and fallback: it reads the parsed message and takes the span bytes from the received ones where they match
(re-encoding them otherwise). Both return the same blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from edgetel._native import load
from edgetel.pdata.wire import read_varint
from edgetel.processors.tailsampling.buffer import field_bytes, received_layout, varint

# (trace id, its spans framed as ScopeSpans.spans fields and concatenated, span count, earliest start, latest
# end (unix ns), status code mask (see code_bit), the first root span's name or None, the first span's
# trace_state)
Group = tuple[bytes, bytes, int, int, int, int, str | None, str]
# (resource + schema_url fields framed, scope + schema_url fields framed, service.name, groups in order of
# their first span); blocks without spans are left out.
Block = tuple[bytes, bytes, str, list[Group]]

_HEADERS = [b"\x12" + varint(n) for n in range(0x800)]  # field headers of spans up to 2 KiB
_c = load("tailsampling")
native_walk: Callable[[bytes], list[Block] | None] | None = _c.walk if _c is not None else None


def code_bit(code: int) -> int:
    """The bit a span's status code sets in its trace's code mask (codes outside 0..62 share bit 63)."""
    return 1 << code if 0 <= code < 63 else 1 << 63


def walk(raw: bytes | None, message: Callable[[], Any]) -> list[Block]:
    """The blocks of a request received as `raw` (None: built or changed since, e.g. by a redaction processor
    upstream); `message()` returns the parsed request."""
    if native_walk is not None:
        # Without received bytes, one serialization of the whole request is much cheaper than walk_message's
        # span-by-span encoding.
        out = native_walk(raw if raw else bytes(message().SerializeToString()))
        if out is not None:
            return out
    return walk_message(raw, message())


def walk_message(raw_in: bytes | None, req: Any) -> list[Block]:
    """`walk` over the parsed message: the reference for the compiled walker, and its fallback."""
    raw, layout = received_layout(raw_in, req)
    view = memoryview(raw)
    out: list[Block] = []
    for ri, rs in enumerate(req.resource_spans):
        rlay = layout[ri] if layout is not None else None
        if rlay is not None:
            rframe = rlay[0]
        else:
            rframe = _frame(rs.resource.SerializeToString(), rs.schema_url)
        service = ""
        for kv in rs.resource.attributes:
            if kv.key == "service.name":
                service = kv.value.string_value
                break
        for si, ss in enumerate(rs.scope_spans):
            spans = ss.spans
            if not spans:
                continue
            slay = rlay[1][si] if rlay is not None else None
            sview = view
            if slay is not None:
                sframe, slices = slay
            else:
                sframe = _frame(ss.scope.SerializeToString(), ss.schema_url)
                slices, sview = encode(spans)
            groups: dict[bytes, list[Any]] = {}
            for sp, (a, e) in zip(spans, slices, strict=True):
                tid = sp.trace_id
                g = groups.get(tid)
                root = None if sp.parent_span_id else sp.name
                start, end, bit = sp.start_time_unix_nano, sp.end_time_unix_nano, code_bit(sp.status.code)
                if g is None:
                    groups[tid] = [tid, [sview[a:e]], 1, start, end, bit, root, sp.trace_state]
                    continue
                g[1].append(sview[a:e])
                g[2] += 1
                g[3] = min(g[3], start)
                g[4] = max(g[4], end)
                g[5] |= bit
                if g[6] is None:
                    g[6] = root
            out.append((rframe, sframe, service, [(g[0], b"".join(g[1]), *g[2:]) for g in groups.values()]))
    return out


def _frame(message: bytes, schema_url: str) -> bytes:
    """Fields 1 (a resource or scope) and 3 (schema_url) of a ResourceSpans or ScopeSpans, framed."""
    out = field_bytes(0x0A, message) if message else b""
    if schema_url:
        out += field_bytes(0x1A, schema_url.encode())
    return out


def encode(spans: Any) -> tuple[list[tuple[int, int]], memoryview]:
    """Each span serialized and framed as a ScopeSpans.spans field, in one buffer, and where each one is."""
    buf = bytearray()
    slices = []
    for sp in spans:
        data = sp.SerializeToString()
        a = len(buf)
        buf += _HEADERS[len(data)] if len(data) < 0x800 else b"\x12" + varint(len(data))
        buf += data
        slices.append((a, len(buf)))
    return slices, memoryview(bytes(buf))


def split(group: Group) -> list[Group]:
    """The spans of a group one by one, as single-span groups."""
    data = group[1]
    out: list[Group] = []
    pos = 0
    while pos < len(data):
        n, at = read_varint(data, pos + 1)
        sp = Span.FromString(data[at : at + n])
        root = None if sp.parent_span_id else sp.name
        out.append((group[0], data[pos : at + n], 1, sp.start_time_unix_nano, sp.end_time_unix_nano,
                    code_bit(sp.status.code), root, sp.trace_state))  # fmt: skip
        pos = at + n
    return out
