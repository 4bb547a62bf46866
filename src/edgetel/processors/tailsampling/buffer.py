"""Per-trace span storage as serialized protobuf.

A buffered span is its serialized `Span` message, already framed as a `ScopeSpans.spans` field, in one chunk
per (trace, resource+scope): the bytes intake made for the trace's first group of spans, a bytearray once more
arrive. Resources and scopes are serialized once per batch and interned with a reference count. Re-emission
concatenates the framed bytes into an `ExportTraceServiceRequest` and parses it once: no span is ever rebuilt
field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

# Accounting overhead per buffered trace and per (trace, scope) chunk, on top of the span bytes.
TRACE_OVERHEAD = 400
CHUNK_OVERHEAD = 60


def varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def fields(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]] | None:
    """The length-delimited fields of the message in buf[start:end] as (field number, start of the field's tag,
    end of the field); other wire types are skipped. None when the bytes are not valid protobuf."""
    out = []
    pos = start
    try:
        while pos < end:
            tag_at = pos
            key = buf[pos]
            pos += 1
            if key & 0x80:
                key &= 0x7F
                shift = 7
                while True:
                    b = buf[pos]
                    pos += 1
                    key |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
            wire = key & 7
            if wire == 2:
                n = buf[pos]
                pos += 1
                if n & 0x80:
                    n &= 0x7F
                    shift = 7
                    while True:
                        b = buf[pos]
                        pos += 1
                        n |= (b & 0x7F) << shift
                        if not b & 0x80:
                            break
                        shift += 7
                pos += n
                out.append((key >> 3, tag_at, pos))
            elif wire == 0:
                while buf[pos] & 0x80:
                    pos += 1
                pos += 1
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            else:
                return None
    except IndexError:
        return None
    return out if pos == end else None


def scope_fields(buf: bytes, pos: int, end: int) -> tuple[bytes, list[tuple[int, int]]] | None:
    """The common case of `fields` for a ScopeSpans message, one loop step per span: every field is scope (1),
    span (2) or schema_url (3) and shorter than 16 KiB. Returns (its scope and schema_url fields, framed; where
    each span field is), or None: then use `fields`."""
    spans: list[tuple[int, int]] = []
    append = spans.append
    frame = b""
    try:
        while pos < end:
            tag = buf[pos]
            n = buf[pos + 1]
            if n < 0x80:
                e = pos + 2 + n
            else:
                n2 = buf[pos + 2]
                if n2 >= 0x80:
                    return None
                e = pos + 3 + ((n & 0x7F) | (n2 << 7))
            if tag == 0x12:
                append((pos, e))
            elif tag == 0x0A or tag == 0x1A:  # noqa: PLR1714 (faster than a tuple test here)
                frame += buf[pos:e]
            else:
                return None
            pos = e
    except IndexError:
        return None
    return (frame, spans) if pos == end else None


def payload(buf: bytes, tag_at: int) -> int:
    """Where the payload of the length-delimited field whose tag starts at `tag_at` begins."""
    pos = tag_at
    while buf[pos] & 0x80:
        pos += 1
    pos += 1
    while buf[pos] & 0x80:
        pos += 1
    return pos + 1


def field_bytes(tag: int, payload: bytes | bytearray) -> bytes:
    """A length-delimited protobuf field (tag already shifted: (number << 3) | 2)."""
    return bytes((tag,)) + varint(len(payload)) + bytes(payload)


@dataclass
class Scope:
    """An interned (resource, scope) pair."""

    resource: bytes  # ResourceSpans fields 1 (resource) and 3 (schema_url), framed
    scope: bytes  # ScopeSpans fields 1 (scope) and 3 (schema_url), framed
    service: str
    refs: int = 0


class ScopeTable:
    """Interned resource/scope pairs, freed when no buffered trace refers to them."""

    def __init__(self) -> None:
        self._ids: dict[tuple[bytes, bytes], int] = {}
        self.entries: dict[int, Scope] = {}
        self._next = 0

    def intern(self, resource: bytes, scope: bytes, service: str) -> int:
        key = (resource, scope)
        sid = self._ids.get(key)
        if sid is None:
            sid = self._ids[key] = self._next
            self._next += 1
            self.entries[sid] = Scope(resource, scope, service)
        return sid

    def ref(self, sid: int) -> None:
        self.entries[sid].refs += 1

    def unref(self, sid: int) -> None:
        entry = self.entries[sid]
        entry.refs -= 1
        if entry.refs <= 0:
            del self.entries[sid]
            del self._ids[(entry.resource, entry.scope)]

    def __len__(self) -> int:
        return len(self.entries)


class Trace:
    """What is known about one buffered trace, and its spans as framed bytes per scope id (the first scope's
    chunk in slots of its own: most traces seen by one agent come from one resource and scope). A chunk is the
    bytes object intake made until a second group of spans arrives for it: then it becomes a bytearray."""

    __slots__ = ("codes", "data", "decided", "end", "first_seen", "more", "nbytes", "root_due", "root_name",
                 "root_scope", "sid", "spans", "start", "trace_id", "tracestate")  # fmt: skip

    def __init__(self, trace_id: bytes, now: float, tracestate: str) -> None:
        self.trace_id = trace_id
        self.sid = -1
        self.data: bytes | bytearray = _EMPTY
        self.more: dict[int, bytes | bytearray] | None = None
        self.spans = 0
        self.nbytes = TRACE_OVERHEAD
        self.start = NO_START  # earliest start, unix ns
        self.end = 0  # latest end, unix ns
        self.codes = 0  # bit (1 << status code) for every status seen (intake.code_bit)
        self.first_seen = now
        self.root_due = 0.0
        self.root_name: str | None = None
        self.root_scope = -1
        self.decided = False
        self.tracestate = tracestate  # of the first span: upstream `th` / `rv`

    def add(self, sid: int, data: bytes) -> bool:
        """Append framed spans to the chunk of scope `sid`; True when that chunk is new."""
        if sid == self.sid:
            chunk = self.data
            if type(chunk) is bytes:
                chunk = self.data = bytearray(chunk)
            chunk += data
            return False
        if self.sid < 0:
            self.sid, self.data = sid, data
            return True
        if self.more is None:
            self.more = {}
        got = self.more.get(sid)
        if got is None:
            self.more[sid] = data
            return True
        if type(got) is bytes:
            got = self.more[sid] = bytearray(got)
        got += data
        return False

    def chunks(self) -> list[tuple[int, bytes | bytearray]]:
        out = [(self.sid, self.data)] if self.sid >= 0 else []
        if self.more:
            out.extend(self.more.items())
        return out

    def clear(self) -> None:
        self.sid, self.data, self.more = -1, _EMPTY, None

    @property
    def duration(self) -> float:
        """Latest end minus earliest start, in seconds."""
        return max(0, self.end - self.start) / 1e9


_EMPTY = b""
NO_START = 1 << 64  # above every uint64 start time: the first span's start replaces it


# Per ResourceSpans: (its resource + schema_url fields, per ScopeSpans: (its scope + schema_url fields,
# [(start, end) of each span field]) or None).
Layout = list[tuple[bytes, list[tuple[bytes, list[tuple[int, int]]] | None]] | None]


def received_layout(raw: object, req: Any) -> tuple[bytes, Layout | None]:
    """Where each resource, scope and span of `req` sits in `raw`, the bytes it was parsed from, so spans are
    buffered without being encoded again. (b"", None) without bytes or when they do not match the message."""
    if not isinstance(raw, bytes) or not raw:
        return b"", None
    top = fields(raw, 0, len(raw))
    rs_fields = [f for f in top or () if f[0] == 1]
    if top is None or len(rs_fields) != len(req.resource_spans):
        return b"", None
    out: Layout = []
    for (_, tag_at, end), rs in zip(rs_fields, req.resource_spans, strict=True):
        inner = fields(raw, payload(raw, tag_at), end)
        if inner is None:
            out.append(None)
            continue
        rframe = b"".join(raw[a:e] for fn, a, e in inner if fn in (1, 3))
        ss_fields = [f for f in inner if f[0] == 2]
        if len(ss_fields) != len(rs.scope_spans):
            out.append(None)
            continue
        scopes: list[tuple[bytes, list[tuple[int, int]]] | None] = []
        for (_, s_at, s_end), ss in zip(ss_fields, rs.scope_spans, strict=True):
            fast = scope_fields(raw, payload(raw, s_at), s_end)
            if fast is not None:
                frame, spans = fast
            else:
                sf = fields(raw, payload(raw, s_at), s_end)
                if sf is None:
                    scopes.append(None)
                    continue
                spans = [(a, e) for fn, a, e in sf if fn == 2]
                frame = b"".join(raw[a:e] for fn, a, e in sf if fn in (1, 3))
            if len(spans) != len(ss.spans):
                scopes.append(None)
                continue
            scopes.append((frame, spans))
        out.append((rframe, scopes))
    return raw, out


def build_request(traces: list[Trace], scopes: ScopeTable) -> ExportTraceServiceRequest:
    """One request holding every span of `traces`, grouped per resource and scope."""
    by_resource: dict[bytes, dict[bytes, list[bytes | bytearray]]] = {}
    for t in traces:
        for sid, chunk in t.chunks():
            entry = scopes.entries[sid]
            by_resource.setdefault(entry.resource, {}).setdefault(entry.scope, []).append(chunk)
    out = bytearray()
    for resource, by_scope in by_resource.items():
        rs = bytearray(resource)
        for scope, chunks in by_scope.items():
            ss = bytearray(scope)
            for c in chunks:
                ss += c
            rs += field_bytes(0x12, ss)
        out += field_bytes(0x0A, rs)
    req = ExportTraceServiceRequest()
    req.ParseFromString(bytes(out))
    return req
