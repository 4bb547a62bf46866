"""OTLP JSON: the protobuf JSON mapping with OTLP's exceptions.

The exceptions (OTLP specification, "JSON Protobuf Encoding"): trace and span ids are hex strings (not base64),
enums are integers, keys are lowerCamelCase, 64-bit integers are decimal strings (numbers are accepted too),
unknown fields are ignored. Other `bytes` fields (an AnyValue's `bytesValue`) stay base64.

`encode` writes one Export*ServiceRequest; `decode` reads one and raises only `ValueError`, naming the field
that was wrong.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson
from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
from google.protobuf.message import Message  # type: ignore[import-untyped,unused-ignore]
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.component.ids import Signal
from edgetel.pdata.batch import Batch, Metrics, Traces

_ID_KEYS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8, "parentSpanId": 8, "parent_span_id": 8}
_POINT_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram", "summary")

IdRef = tuple[dict[str, Any], str, str]  # (object holding the id, key, path for messages)


def encode(batch: Batch) -> bytes:
    """One OTLP JSON `Export{Trace,Metrics}ServiceRequest` (no trailing newline)."""
    return encode_message(batch.request)


def encode_message(message: Message) -> bytes:
    """Any OTLP message (a request, an Export*ServiceResponse, a google.rpc.Status) as OTLP JSON."""
    obj = to_dict(message)
    return orjson.dumps(obj)


def to_dict(message: Message) -> dict[str, Any]:
    """`message` as OTLP JSON values (ids hex-encoded)."""
    obj: dict[str, Any] = json_format.MessageToDict(message, use_integers_for_enums=True)
    for holder, key, _ in _id_refs(obj):
        value = holder[key]
        holder[key] = base64.b64decode(value).hex() if isinstance(value, str) else value
    return obj


def decode(data: bytes | str, signal: Signal) -> Traces | Metrics:
    """Parse an OTLP JSON request of `signal` (traces or metrics). Raise ValueError naming what was wrong."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"the request must be a JSON object, not {type(obj).__name__}")
    for holder, key, path in _id_refs(obj):
        holder[key] = _hex_to_b64(holder[key], _ID_KEYS[key], path)
    if signal == Signal.TRACES:
        return Traces(_parse(obj, ExportTraceServiceRequest()))
    if signal == Signal.METRICS:
        return Metrics(_parse(obj, ExportMetricsServiceRequest()))
    raise ValueError(f"signal {signal} is not supported")


def _parse(obj: dict[str, Any], message: Any) -> Any:
    try:
        json_format.ParseDict(obj, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError("the request is nested too deeply") from None
    return message


def _hex_to_b64(value: Any, size: int, path: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: expected a hex string, not {type(value).__name__}")
    if value == "":
        return ""
    if len(value) != 2 * size:
        raise ValueError(f"{path}: expected {2 * size} hex characters, got {len(value)}")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{path}: {value!r} is not hexadecimal") from None
    return base64.b64encode(raw).decode("ascii")


def _items(obj: dict[str, Any], *keys: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, element) for each dict element of the first list found under `keys` (camelCase or snake_case)."""
    for key in keys:
        seq = obj.get(key)
        if isinstance(seq, list):
            for i, item in enumerate(seq):
                if isinstance(item, dict):
                    yield f"{key}[{i}]", item
            return


def _ids(obj: dict[str, Any], path: str, *keys: str) -> Iterator[IdRef]:
    for key in keys:
        if key in obj:
            yield obj, key, f"{path}.{key}"


def _id_refs(root: dict[str, Any]) -> Iterator[IdRef]:
    """Every trace/span id in a request or response dict, wherever it may be."""
    for rk, res in _items(root, "resourceSpans", "resource_spans"):
        for sk, scope in _items(res, "scopeSpans", "scope_spans"):
            for pk, span in _items(scope, "spans"):
                p = f"{rk}.{sk}.{pk}"
                yield from _ids(span, p, "traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
                for lk, link in _items(span, "links"):
                    yield from _ids(link, f"{p}.{lk}", "traceId", "trace_id", "spanId", "span_id")
    for rk, res in _items(root, "resourceMetrics", "resource_metrics"):
        for sk, scope in _items(res, "scopeMetrics", "scope_metrics"):
            for mk, metric in _items(scope, "metrics"):
                for kind in _POINT_KINDS:
                    data = metric.get(kind)
                    if not isinstance(data, dict):
                        continue
                    for dk, point in _items(data, "dataPoints", "data_points"):
                        for ek, ex in _items(point, "exemplars"):
                            p = f"{rk}.{sk}.{mk}.{kind}.{dk}.{ek}"
                            yield from _ids(ex, p, "traceId", "trace_id", "spanId", "span_id")
    for rk, res in _items(root, "resourceLogs", "resource_logs"):
        for sk, scope in _items(res, "scopeLogs", "scope_logs"):
            for lk, rec in _items(scope, "logRecords", "log_records"):
                yield from _ids(rec, f"{rk}.{sk}.{lk}", "traceId", "trace_id", "spanId", "span_id")


__all__ = ["decode", "encode", "encode_message", "to_dict"]
