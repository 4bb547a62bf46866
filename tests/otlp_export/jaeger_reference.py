"""A straightforward OTLP-to-Jaeger translator built with protobuf objects (slow, obviously correct), the
reference the wire-level translator in edgetel.exporters.jaeger.translate is checked against."""

from __future__ import annotations

from typing import Any

from edgetel.exporters.jaeger import model
from edgetel.exporters.jaeger.gojson import go_json
from edgetel.exporters.jaeger.model import BINARY, BOOL, CHILD_OF, FLOAT64, FOLLOWS_FROM, INT64

NO_SERVICE_NAME = "OTLPResourceNoServiceName"
_SPAN_KINDS = (None, "internal", "server", "client", "producer", "consumer")
_ZERO_SPAN_ID = bytes(8)


def translate(request: Any) -> tuple[list[tuple[bytes, int]], int]:
    """Serialized `PostSpansRequest`s, one per resource with spans, each with its span count; and the number
    of spans skipped for invalid ids."""
    out: list[tuple[bytes, int]] = []
    skipped = 0
    for rs in request.resource_spans:
        if not rs.scope_spans:
            continue  # the Collector would send a batch without spans: nothing for Jaeger to store
        req = model.PostSpansRequest()
        batch = req.batch
        _process(batch.process, rs.resource.attributes)
        spans = batch.spans
        n = 0
        for ss in rs.scope_spans:
            scope = ss.scope
            scope_tags = []
            if scope.name:
                scope_tags.append(model.KeyValue(key="otel.scope.name", v_str=scope.name))
            if scope.version:
                scope_tags.append(model.KeyValue(key="otel.scope.version", v_str=scope.version))
            for sp in ss.spans:
                if len(sp.trace_id) != 16 or len(sp.span_id) != 8:
                    skipped += 1
                    continue
                _span(spans.add(), sp, scope_tags)
                n += 1
        if n:
            out.append((req.SerializeToString(), n))
    return out, skipped


def _process(process: Any, attrs: Any) -> None:
    if not attrs:
        process.service_name = NO_SERVICE_NAME
        return
    tags = process.tags
    found = False
    for kv in attrs:
        if kv.key == "service.name":
            if not found:  # like pcommon.Map.Get: the first one
                process.service_name = kv.value.string_value
                found = True
            continue
        _add_tag(tags, kv.key, kv.value)


def _span(js: Any, sp: Any, scope_tags: list[Any]) -> None:
    trace_id = sp.trace_id
    js.trace_id = trace_id
    js.span_id = sp.span_id
    js.operation_name = sp.name
    parent = sp.parent_span_id
    has_parent = len(parent) == 8 and parent != _ZERO_SPAN_ID
    links = sp.links
    if has_parent or links:
        refs = js.references
        if has_parent:
            refs.add(trace_id=trace_id, span_id=parent)  # CHILD_OF is 0, the default
        for link in links:
            ref_type = FOLLOWS_FROM
            for kv in link.attributes:
                if kv.key == "opentracing.ref_type":
                    ref_type = CHILD_OF if kv.value.string_value == "child_of" else FOLLOWS_FROM
                    break
            if has_parent and link.span_id == parent and link.trace_id == trace_id:
                refs[0].ref_type = ref_type
                continue
            refs.add(trace_id=link.trace_id, span_id=link.span_id, ref_type=ref_type)
    js.flags = sp.flags & 1
    start = sp.start_time_unix_nano
    js.start_time.FromNanoseconds(start)
    js.duration.FromNanoseconds(sp.end_time_unix_nano - start)
    tags = js.tags
    if scope_tags:
        tags.extend(scope_tags)
    for kv in sp.attributes:
        _add_tag(tags, kv.key, kv.value)
    kind = sp.kind
    if 0 < kind < 6:
        tags.add(key="span.kind", v_str=_SPAN_KINDS[kind])
    status = sp.status
    code = status.code
    if code == 2:
        tags.add(key="otel.status_code", v_str="ERROR")
        tags.add(key="error", v_type=BOOL, v_bool=True)
    elif code == 1:
        tags.add(key="otel.status_code", v_str="OK")
    if status.message:
        tags.add(key="otel.status_description", v_str=status.message)
    if sp.trace_state:
        tags.add(key="w3c.tracestate", v_str=sp.trace_state)
    if sp.events:
        logs = js.logs
        for ev in sp.events:
            log = logs.add()
            log.timestamp.FromNanoseconds(ev.time_unix_nano)
            fields = log.fields
            attrs = ev.attributes
            if ev.name and not any(kv.key == "event" for kv in attrs):
                fields.add(key="event", v_str=ev.name)
            for kv in attrs:
                _add_tag(fields, kv.key, kv.value)


def _add_tag(tags: Any, key: str, value: Any) -> None:
    which = value.WhichOneof("value")
    if which == "string_value":
        tags.add(key=key, v_str=value.string_value)
    elif which == "int_value":
        tags.add(key=key, v_type=INT64, v_int64=value.int_value)
    elif which == "bool_value":
        tags.add(key=key, v_type=BOOL, v_bool=value.bool_value)
    elif which == "double_value":
        tags.add(key=key, v_type=FLOAT64, v_float64=value.double_value)
    elif which == "bytes_value":
        tags.add(key=key, v_type=BINARY, v_binary=value.bytes_value)
    elif which is None:
        tags.add(key=key)  # an empty value: a STRING tag with no value, as the Collector does
    else:
        tags.add(key=key, v_str=go_json(value))
