"""The translator's state: resources, metric families and their series (`Stream`), attribute decoding.

A `Stream` is one OTLP stream (resource, scope, metric, point attributes). It holds its encoded Prometheus label
sets (built once, reused for every sample), the timestamp of its last sample and its delta -> cumulative
state.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from edgetel.exporters.prometheusremotewrite import naming as nm
from edgetel.exporters.prometheusremotewrite.otlpwire import read_varint

_IDENTIFYING = ("service.name", "service.namespace", "service.instance.id")
Pairs = list[tuple[str, str]]


def any_str(v: AnyValue) -> str:
    """An attribute value as a label value (the Collector's pcommon Value.AsString)."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return str(v.string_value)
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        return nm.format_float(v.double_value)
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return orjson.dumps(_plain(v)).decode()
    return ""


def _plain(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_plain(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, kind) if kind else None


def attrs_from_bytes(data: bytes) -> Pairs:
    """Decode encoded repeated KeyValue fields (any tag) into (key, label value) pairs."""
    out, pos = [], 0
    while pos < len(data):
        _, pos = read_varint(data, pos)
        length, pos = read_varint(data, pos)
        kv = KeyValue.FromString(data[pos : pos + length])
        pos += length
        out.append((str(kv.key), any_str(kv.value)))
    return out


@dataclass
class Stats:
    dropped: dict[str, int] = field(default_factory=dict)  # samples, by reason
    evicted: int = 0  # series whose state was dropped because max_series was reached
    stale_markers: int = 0
    series: int = 0

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n


class Resource:
    __slots__ = ("attrs", "clock", "identity", "info", "seen")

    def __init__(self, attrs: Pairs) -> None:
        self.attrs = attrs
        self.clock = 0  # the newest sample timestamp (ms) of this resource
        self.seen = 0.0  # time.monotonic() of the last batch that had it
        d = dict(attrs)
        ident: Pairs = []
        if "service.name" in d:
            ns = d.get("service.namespace")
            ident.append(("job", f"{ns}/{d['service.name']}" if ns else d["service.name"]))
        if "service.instance.id" in d:
            ident.append(("instance", d["service.instance.id"]))
        self.identity = ident
        self.info = [(k, v) for k, v in attrs if k not in _IDENTIFYING]


class Family:
    """One metric of one resource and scope: its name, kind and streams by encoded point attributes."""

    __slots__ = ("delta", "fixed", "help", "key", "kind", "name", "res", "streams", "unit")

    def __init__(
        self, key: Any, name: str, kind: int, delta: bool, res: Resource, fixed: Pairs, help_: str, unit: str
    ) -> None:
        self.key = key
        self.name = name
        self.kind = kind
        self.delta = delta
        self.res = res
        self.fixed = fixed  # scope labels; job/instance come from res
        self.help = help_
        self.unit = unit
        self.streams: dict[bytes, Stream] = {}


class Stream:
    __slots__ = ("bounds", "buckets", "cum", "last_ts", "native", "prefix", "quantiles", "sum_prefix")

    def __init__(self, prefix: bytes = b"", native: bytes = b"") -> None:
        self.prefix = prefix  # the float series (for histograms and summaries: `_count`)
        self.native = native  # encoded labels of a native histogram series
        self.last_ts = -(1 << 62)
        self.cum: Any = None
        self.bounds: tuple[float, ...] | None = None
        self.buckets: list[bytes] = []
        self.sum_prefix = b""
        self.quantiles: dict[float, bytes] = {}

    def float_prefixes(self) -> Iterable[bytes]:
        if self.prefix:
            yield self.prefix
        yield from self.buckets
        if self.sum_prefix:
            yield self.sum_prefix
        yield from self.quantiles.values()
