"""Build the tail sampler from a plain config dict with a virtual clock, and synthetic spans."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from edgetel.component.errors import RetryableError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.pdata import Batch, Traces
from edgetel.pipeline.sockets import SocketPool
from edgetel.processors.tailsampling.config import TailSamplingConfig
from edgetel.processors.tailsampling.processor import TailSamplingProcessor
from edgetel.telemetry.selfmetrics import Registry

BASE_NS = 1_700_000_000_000_000_000


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Collect:
    """A downstream consumer that records batches (optionally refusing the first `refuse` calls)."""

    mutates = False

    def __init__(self, refuse: int = 0) -> None:
        self.batches: list[Traces] = []
        self.refuse = refuse

    async def consume(self, batch: Batch) -> None:
        if self.refuse:
            self.refuse -= 1
            raise RetryableError("busy", retry_after=0.01)
        assert isinstance(batch, Traces)
        self.batches.append(batch)

    def spans(self) -> list[tuple[str, Span]]:
        out: list[tuple[str, Span]] = []
        for b in self.batches:
            for rs in b.request.resource_spans:
                svc = next((kv.value.string_value for kv in rs.resource.attributes if kv.key == "service.name"), "")
                for ss in rs.scope_spans:
                    out.extend((svc, sp) for sp in ss.spans)
        return out

    def trace_ids(self) -> set[bytes]:
        return {sp.trace_id for _, sp in self.spans()}


@dataclass
class Built:
    proc: TailSamplingProcessor
    out: Collect
    clock: Clock
    metrics: Registry
    config: TailSamplingConfig = field(repr=False)

    def value(self, name: str, **labels: str) -> float:
        fam = self.metrics.get(name)
        if fam is None:
            return 0.0
        total = 0.0
        for key, val in fam.samples():
            got = dict(zip(fam.labelnames, key, strict=True))
            if all(got.get(k) == v for k, v in labels.items()):
                total += val
        return total

    async def send(self, *spans: tuple[str, Span]) -> None:
        await self.proc.consume(batch(*spans))

    async def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        await self.proc.tick(self.clock.now)


def config(raw: dict[str, Any]) -> TailSamplingConfig:
    problems = Problems("test.yaml")
    cfg = decode(TailSamplingConfig, raw, problems)
    assert not problems.errors, [f"{p.path}: {p.message}" for p in problems.errors]
    return cfg


def build(raw: dict[str, Any], out: Collect | None = None) -> Built:
    cfg = config(raw)
    reg = Registry()
    ctx = CreateContext(id=ComponentID("tail_sampling"), kind=Kind.PROCESSOR, logger=logging.getLogger("t.ts"),
                        metrics=reg, sockets=SocketPool(), lifecycle=Lifecycle())  # fmt: skip
    clock = Clock()
    out = out or Collect()
    return Built(TailSamplingProcessor(ctx, cfg, out, clock=clock), out, clock, reg, cfg)


def tid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def span(trace: int | bytes, sid: int, parent: int = 0, name: str = "op", start_ms: float = 0.0,
         dur_ms: float = 1.0, status: int = 0, attrs: dict[str, Any] | None = None, tracestate: str = "",
         service: str = "svc") -> tuple[str, Span]:  # fmt: skip
    sp = Span(name=name, kind=Span.SPAN_KIND_SERVER)
    sp.trace_id = trace if isinstance(trace, bytes) else tid(trace)
    sp.span_id = sid.to_bytes(8, "big")
    if parent:
        sp.parent_span_id = parent.to_bytes(8, "big")
    sp.start_time_unix_nano = BASE_NS + int(start_ms * 1e6)
    sp.end_time_unix_nano = sp.start_time_unix_nano + int(dur_ms * 1e6)
    sp.status.code = status  # type: ignore[assignment]
    sp.trace_state = tracestate
    for k, v in (attrs or {}).items():
        kv = sp.attributes.add(key=k)
        if isinstance(v, bool):
            kv.value.bool_value = v
        elif isinstance(v, int):
            kv.value.int_value = v
        elif isinstance(v, float):
            kv.value.double_value = v
        else:
            kv.value.string_value = v
    return service, sp


def batch(*spans: tuple[str, Span]) -> Traces:
    req = ExportTraceServiceRequest()
    by_service: dict[str, list[Span]] = {}
    for svc, sp in spans:
        by_service.setdefault(svc, []).append(sp)
    for svc, sps in by_service.items():
        rs = req.resource_spans.add()
        kv = rs.resource.attributes.add(key="service.name")
        kv.value.string_value = svc
        ss = rs.scope_spans.add()
        ss.scope.name = "test"
        ss.spans.extend(sps)
    return Traces.parse(req.SerializeToString())  # as a receiver hands it on: with its bytes


TEXT = st.text(max_size=12)
ROUTE = "http.route"
VALUES = st.one_of(TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.floats(allow_nan=False), st.none(),
                   st.binary(max_size=3))  # fmt: skip


def _set(any_value: object, v: object) -> None:
    if v is None:
        return
    if isinstance(v, bytes):
        any_value.bytes_value = v  # type: ignore[attr-defined]
    elif isinstance(v, bool):
        any_value.bool_value = v  # type: ignore[attr-defined]
    elif isinstance(v, int):
        any_value.int_value = v  # type: ignore[attr-defined]
    elif isinstance(v, float):
        any_value.double_value = v  # type: ignore[attr-defined]
    else:
        any_value.string_value = v  # type: ignore[attr-defined]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """Serialized ExportTraceServiceRequests: a few resources, scopes, trace ids and span shapes."""
    req = ExportTraceServiceRequest()
    tids = draw(st.lists(st.binary(min_size=0, max_size=17), min_size=1, max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        rs = req.resource_spans.add()
        for key in draw(st.lists(st.sampled_from(["service.name", "host.name", "service.names", "", ROUTE]),
                                 max_size=3)):  # fmt: skip
            _set(rs.resource.attributes.add(key=key).value, draw(VALUES))
        if draw(st.booleans()):
            rs.schema_url = draw(TEXT)
        for _ in range(draw(st.integers(0, 3))):
            ss = rs.scope_spans.add()
            if draw(st.booleans()):
                ss.scope.name = draw(TEXT)
            if draw(st.booleans()):
                ss.schema_url = draw(TEXT)
            for _ in range(draw(st.integers(0, 6))):
                sp = ss.spans.add(name=draw(TEXT), kind=draw(st.integers(0, 5)))
                sp.trace_id = draw(st.sampled_from(tids))
                sp.span_id = draw(st.binary(max_size=8))
                sp.parent_span_id = draw(st.sampled_from([b"", b"\x01" * 8]))
                sp.trace_state = draw(st.sampled_from(["", "ot=th:8", draw(TEXT)]))
                sp.start_time_unix_nano = draw(st.integers(0, 2**64 - 1))
                sp.end_time_unix_nano = draw(st.integers(0, 2**64 - 1))
                if draw(st.booleans()):
                    sp.status.code = draw(st.integers(-(2**31), 2**31 - 1))
                    sp.status.message = draw(TEXT)
                for _ in range(draw(st.integers(0, 2))):
                    _set(sp.attributes.add(key=draw(st.sampled_from([ROUTE, "n", draw(TEXT)]))).value, draw(VALUES))
    return bytes(req.SerializeToString())


def native_or_python(param: str, monkeypatch: pytest.MonkeyPatch, module: ModuleType, attr: str) -> None:
    """For a test parametrized over both paths: "python" disables the compiled function `module.attr`; "native"
    needs it (skipped when it was not built, an error under EDGETEL_REQUIRE_NATIVE=1)."""
    if param == "python":
        monkeypatch.setattr(module, attr, None)
    elif getattr(module, attr) is None:
        if os.environ.get("EDGETEL_REQUIRE_NATIVE") == "1":
            pytest.fail(f"{module.__name__}.{attr}: edgetel._native.tailsampling is not built")
        pytest.skip("edgetel._native.tailsampling is not built")


def policy(name: str, type_: str, **body: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "type": type_}
    if body:
        p[type_] = body
    return p
