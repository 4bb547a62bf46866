"""OTLP traces to Jaeger api_v2 batches, as the Collector's translator (pkg/translator/jaeger) does it.

One Batch per ResourceSpans. Process.service_name is `service.name`, or "OTLPResourceNoServiceName" for a
resource without attributes; the other resource attributes become Process tags. References: the parent
first (CHILD_OF), then links (FOLLOWS_FROM, or CHILD_OF when the link has `opentracing.ref_type=child_of`; a
link to the parent only sets the parent reference's type). Span tags in order: otel.scope.name,
otel.scope.version, the attributes, span.kind, otel.status_code, error=true, otel.status_description,
w3c.tracestate. Events become logs with `event=<name>` (unless an `event` attribute exists) plus the
attributes. Arrays and maps become JSON strings exactly as Go's encoding/json writes them, bytes BINARY.
Differences from the Collector: `flags` carries the span's W3C sampled bit (the Collector left it 0);
spans whose trace or span id has the wrong length are skipped (Jaeger rejects the whole batch otherwise).

How: building protobuf objects field by field from Python costs ~40 us a span (reading upb messages is as
slow as writing them). Instead the OTLP bytes are parsed by upb into a "view" schema with the same field
numbers in which attributes are raw `bytes` (and strings are bytes, never decoded), and the Jaeger bytes are
written directly: a string, int64 or bytes attribute becomes a Jaeger tag by slicing, not decoding.
"""

from __future__ import annotations

from typing import Any

from edgetel.exporters.jaeger.gojson import go_json
from edgetel.exporters.jaeger.model import message_classes
from edgetel.pdata.wire import WireError, read_varint, skip_value

NO_SERVICE_NAME = b"OTLPResourceNoServiceName"
_ZERO_SPAN_ID = bytes(8)
_SMALL = [bytes([i]) for i in range(128)]


MalformedError = WireError


def _varint(n: int) -> bytes:
    if n < 0x80:
        if n >= 0:
            return _SMALL[n]
        n += 1 << 64
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    if n < 0x200000:
        return bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, n >> 14))
    if n < 0x10000000:
        return bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, (n >> 14) & 0x7F | 0x80, n >> 21))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _fields(buf: bytes, pos: int, end: int) -> list[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field in buf[pos:end]; for varint and fixed fields the
    range covers the value's bytes."""
    out = []
    while pos < end:
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(buf, pos)
        wt = tag & 7
        if wt == 2:
            n = buf[pos]
            if n < 0x80:
                pos += 1
            else:
                n, pos = read_varint(buf, pos)
            out.append((tag >> 3, 2, pos, pos + n))
            pos += n
        else:
            nxt = skip_value(buf, pos, wt)
            out.append((tag >> 3, wt, pos, nxt))
            pos = nxt
    if pos != end:
        raise MalformedError("field overruns its message")
    return out


_LD_HEADERS = [bytes([f << 3 | 2]) for f in range(16)]


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field (field numbers below 16)."""
    n = len(payload)
    return _LD_HEADERS[field] + (_SMALL[n] if n < 128 else _varint(n)) + payload


def _str_tag(key: bytes, value: bytes) -> bytes:
    return _ld(1, key) + _ld(3, value) if value else _ld(1, key)


# Span tags that do not depend on the span, already framed as Span.tags (field 8).
_SPAN_KIND_TAGS = [b""] + [
    _ld(8, _str_tag(b"span.kind", k)) for k in (b"internal", b"server", b"client", b"producer", b"consumer")
]
_STATUS_OK_TAGS = _ld(8, _str_tag(b"otel.status_code", b"OK"))
_STATUS_ERROR_TAGS = _ld(8, _str_tag(b"otel.status_code", b"ERROR")) + _ld(8, _ld(1, b"error") + b"\x10\x01\x20\x01")


_VIEW = message_classes(
    "edgetel/jaeger/otlp_view.proto",
    "edgetel.otlpview",
    {
        "Request": [("resource_spans", 1, ".edgetel.otlpview.ResourceSpans", True)],
        "ResourceSpans": [
            ("resource", 1, ".edgetel.otlpview.Resource", False),
            ("scope_spans", 2, ".edgetel.otlpview.ScopeSpans", True),
        ],
        "Resource": [("attributes", 1, "bytes", True)],
        "ScopeSpans": [("scope", 1, ".edgetel.otlpview.Scope", False), ("spans", 2, ".edgetel.otlpview.Span", True)],
        "Scope": [("name", 1, "bytes", False), ("version", 2, "bytes", False)],
        "Span": [
            ("trace_id", 1, "bytes", False),
            ("span_id", 2, "bytes", False),
            ("trace_state", 3, "bytes", False),
            ("parent_span_id", 4, "bytes", False),
            ("name", 5, "bytes", False),
            ("kind", 6, "int32", False),
            ("start", 7, "fixed64", False),
            ("end", 8, "fixed64", False),
            ("attributes", 9, "bytes", True),
            ("events", 11, ".edgetel.otlpview.Event", True),
            ("links", 13, ".edgetel.otlpview.Link", True),
            ("status", 15, ".edgetel.otlpview.Status", False),
            ("flags", 16, "fixed32", False),
        ],
        "Event": [("time", 1, "fixed64", False), ("name", 2, "bytes", False), ("attributes", 3, "bytes", True)],
        "Link": [("trace_id", 1, "bytes", False), ("span_id", 2, "bytes", False), ("attributes", 4, "bytes", True)],
        "Status": [("message", 2, "bytes", False), ("code", 3, "int32", False)],
    },
)
_ViewRequest: Any = _VIEW["Request"]


def _tag(a: bytes) -> tuple[bytes, bytes, bytes]:
    """A serialized OTLP KeyValue as (Jaeger KeyValue bytes, key, string value or b"").

    Fast path for the canonical layout `0a <len> key 12 <len> <one AnyValue field>`: the key part is
    copied as is and the value's field header rewritten (STRING keeps its length prefix, INT64 its varint).
    """
    size = len(a)
    if size < 2 or a[0] != 0x0A:
        return _tag_generic(a, 0, size)
    n = a[1]
    if n < 0x80:
        ks, p = 2, 2 + n
    else:
        n, ks = read_varint(a, 1)
        p = ks + n
    key = a[ks:p]
    if p == size:
        return a, key, b""  # no value: a STRING tag with no value, as the Collector does
    if a[p] != 0x12:
        return _tag_generic(a, 0, size)
    m = a[p + 1]
    if m < 0x80:
        q = p + 2
    else:
        m, q = read_varint(a, p + 1)
    if q + m != size:
        return _tag_generic(a, 0, size)
    if q == size:
        return a[:p], key, b""
    t = a[q]
    if t == 0x0A:  # string: keeps its length prefix
        n = a[q + 1]
        if n < 0x80:
            vs = q + 2
        else:
            n, vs = read_varint(a, q + 1)
        if vs + n == size:
            return (a[:p] + b"\x1a" + a[q + 1 :] if n else a[:p]), key, a[vs:]
    elif t == 0x18:  # int64: the same varint
        return a[:p] + b"\x10\x02\x28" + a[q + 1 :], key, b""
    elif t == 0x10:  # bool
        return a[:p] + (b"\x10\x01\x20\x01" if a[q + 1] else b"\x10\x01"), key, b""
    elif t == 0x21 and q + 9 == size:  # double
        return a[:p] + b"\x10\x03\x31" + a[q + 1 :], key, b""
    return _tag_generic(a, 0, size)


def _tag_generic(buf: bytes, s: int, e: int) -> tuple[bytes, bytes, bytes]:
    """An OTLP KeyValue at buf[s:e] as (Jaeger KeyValue bytes, key, string value or b"")."""
    key = b""
    vs = ve = -1
    for num, wt, fs, fe in _fields(buf, s, e):
        if num == 1 and wt == 2:
            key = buf[fs:fe]
        elif num == 2 and wt == 2:
            vs, ve = fs, fe
    head = _ld(1, key)
    if vs < 0 or vs == ve:
        return head, key, b""  # an empty value: a STRING tag with no value, as the Collector does
    known = [f for f in _fields(buf, vs, ve) if 1 <= f[0] <= 7]  # a oneof: the last known field wins
    if not known:
        return head, key, b""  # a value kind this version does not know: no value, like an empty one
    kind, wt, fs, fe = known[-1]
    if kind == 1 and wt == 2:
        value = buf[fs:fe]
        return (head + _ld(3, value) if value else head), key, value
    if kind == 3 and wt == 0:  # int64: the varint is the same in both
        return head + b"\x10\x02\x28" + buf[fs:fe], key, b""
    if kind == 2 and wt == 0:
        return head + (b"\x10\x01\x20\x01" if read_varint(buf, fs)[0] else b"\x10\x01"), key, b""
    if kind == 4 and wt == 1:
        return head + b"\x10\x03\x31" + buf[fs:fe], key, b""
    if kind == 7 and wt == 2:
        return head + b"\x10\x04" + _ld(7, buf[fs:fe]), key, b""
    if kind in (5, 6):
        from opentelemetry.proto.common.v1.common_pb2 import AnyValue

        text = go_json(AnyValue.FromString(buf[vs:ve])).encode()
        return (head + _ld(3, text) if text else head), key, b""
    return head, key, b""  # a known field number with the wrong wire type: not a value protobuf would read


# Most attributes repeat from span to span (method, route, status code, host): their translation, framed as
# Span.tags, is cached by the OTLP KeyValue bytes. Bounded: small attributes only, cleared when full.
_CACHED_ATTRIBUTES = 2048
_CACHED_ATTRIBUTE_BYTES = 128
_span_tags: dict[bytes, bytes] = {}

_seconds: dict[int, bytes] = {}  # spans of a batch share their seconds: encode each once


def _timestamp(ns: int) -> bytes:
    sec, nanos = divmod(ns, 1_000_000_000)
    head = _seconds.get(sec)
    if head is None:
        if len(_seconds) >= 4096:
            _seconds.clear()
        head = _seconds[sec] = b"\x08" + _varint(sec) if sec else b""
    return head + b"\x10" + _varint(nanos) if nanos else head


def _duration(ns: int) -> bytes:
    sec = abs(ns) // 1_000_000_000
    if ns < 0:
        sec = -sec
    nanos = ns - sec * 1_000_000_000  # same sign as seconds, as google.protobuf.Duration requires
    out = b""
    if sec:
        out += b"\x08" + _varint(sec)
    if nanos:
        out += b"\x10" + _varint(nanos)
    return out


def translate(request: Any) -> tuple[list[tuple[bytes, int]], int]:
    """Serialized `PostSpansRequest`s, one per resource with spans, each with its span count; and the number
    of spans skipped for invalid ids. `request` is an ExportTraceServiceRequest or its serialized bytes."""
    data = request if isinstance(request, bytes) else request.SerializeToString()
    view = _ViewRequest.FromString(data)
    out: list[tuple[bytes, int]] = []
    skipped = 0
    for rs in view.resource_spans:
        parts: list[bytes] = []
        n = 0
        for ss in rs.scope_spans:
            scope = ss.scope
            scope_tags = b""
            if scope.name:
                scope_tags = _ld(8, _ld(1, b"otel.scope.name") + _ld(3, scope.name))
            if scope.version:
                scope_tags += _ld(8, _ld(1, b"otel.scope.version") + _ld(3, scope.version))
            for sp in ss.spans:
                span = _span(sp, scope_tags)
                if span is None:
                    skipped += 1
                else:
                    parts.append(_ld(1, span))
                    n += 1
        if n:  # the Collector would also send a batch without spans: nothing for Jaeger to store
            parts.append(_ld(2, _process(rs.resource.attributes)))
            out.append((_ld(1, b"".join(parts)), n))
    return out, skipped


def _process(attributes: Any) -> bytes:
    if not attributes:
        return _ld(1, NO_SERVICE_NAME)
    service = None
    tags: list[bytes] = []
    for a in attributes:
        tag, key, value = _tag(a)
        if key == b"service.name":
            if service is None:  # like pcommon.Map.Get: the first one
                service = value
            continue
        tags.append(_ld(2, tag))
    return (_ld(1, service) if service else b"") + b"".join(tags)


def _span(sp: Any, scope_tags: bytes) -> bytes | None:
    trace_id = sp.trace_id
    span_id = sp.span_id
    if len(trace_id) != 16 or len(span_id) != 8:
        return None
    out = [b"\x0a\x10", trace_id, b"\x12\x08", span_id]
    name = sp.name
    if name:
        out.append(_ld(3, name))
    parent = sp.parent_span_id
    has_parent = len(parent) == 8 and parent != _ZERO_SPAN_ID
    links = sp.links
    if has_parent or links:
        refs = []
        parent_child_of = True
        for link in links:
            link_trace, link_span = link.trace_id, link.span_id
            child_of = False
            for a in link.attributes:
                _, key, value = _tag(a)
                if key == b"opentracing.ref_type":  # like pcommon.Map.Get: the first one
                    child_of = value == b"child_of"
                    break
            if has_parent and link_span == parent and link_trace == trace_id:
                parent_child_of = child_of  # a link to the parent only sets the parent reference's type
                continue
            ref = _ld(1, link_trace) + _ld(2, link_span)
            refs.append(_ld(4, ref if child_of else ref + b"\x18\x01"))
        if has_parent:
            ref = b"\x0a\x10" + trace_id + b"\x12\x08" + parent
            out.append(_ld(4, ref if parent_child_of else ref + b"\x18\x01"))
        out.extend(refs)
    if sp.flags & 1:
        out.append(b"\x28\x01")
    start = sp.start
    out.append(_ld(6, _timestamp(start)))
    out.append(_ld(7, _duration(sp.end - start)))
    if scope_tags:
        out.append(scope_tags)
    cache = _span_tags
    for a in sp.attributes:
        t = cache.get(a)
        if t is None:
            t = _ld(8, _tag(a)[0])
            if len(a) <= _CACHED_ATTRIBUTE_BYTES:
                if len(cache) >= _CACHED_ATTRIBUTES:
                    cache.clear()
                cache[a] = t
        out.append(t)
    kind = sp.kind
    if 0 < kind < 6:
        out.append(_SPAN_KIND_TAGS[kind])
    status = sp.status
    code = status.code
    if code == 2:
        out.append(_STATUS_ERROR_TAGS)
    elif code == 1:
        out.append(_STATUS_OK_TAGS)
    if status.message:
        out.append(_ld(8, _ld(1, b"otel.status_description") + _ld(3, status.message)))
    if sp.trace_state:
        out.append(_ld(8, _ld(1, b"w3c.tracestate") + _ld(3, sp.trace_state)))
    for ev in sp.events:
        fields = [_ld(1, _timestamp(ev.time))]
        tags = [_tag(a) for a in ev.attributes]
        if ev.name and not any(t[1] == b"event" for t in tags):
            fields.append(_ld(2, _ld(1, b"event") + _ld(3, ev.name)))
        fields.extend(_ld(2, t[0]) for t in tags)
        out.append(_ld(9, b"".join(fields)))
    return b"".join(out)
