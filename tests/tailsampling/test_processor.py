"""Timing, late spans, memory bounds, shutdown and re-emission of the tail sampler."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from edgetel.pdata import Traces

from .helpers import Collect, batch, build, policy, span

ERRORS = policy("errors", "status_code", status_codes=["ERROR"])
ALL = policy("all", "always_sample")


def T(n: int) -> bytes:
    return n.to_bytes(16, "big")


async def test_decides_at_decision_wait_after_the_first_span() -> None:
    b = build({"decision_wait": "10s", "root_grace": "2s", "policies": [ALL]})
    await b.send(span(1, 2, parent=1))  # no root span yet
    await b.advance(9.9)
    assert b.out.spans() == []
    await b.send(span(1, 3, parent=1))
    await b.advance(0.2)
    assert [sp.span_id[-1] for _, sp in b.out.spans()] == [2, 3]
    assert b.value("edgetel_tailsampling_early_decisions_total") == 0


async def test_root_span_decides_after_root_grace() -> None:
    b = build({"decision_wait": "10s", "root_grace": "2s", "policies": [ALL]})
    await b.send(span(1, 2, parent=1), span(1, 1, name="root"))
    await b.advance(1.9)
    assert b.out.spans() == []
    await b.send(span(1, 3, parent=2))  # still within the grace period: decided with the trace
    await b.advance(0.2)
    assert len(b.out.spans()) == 3 and len(b.out.batches) == 1
    assert b.value("edgetel_tailsampling_early_decisions_total", reason="root_span") == 1


async def test_late_spans_follow_the_cached_decision() -> None:
    b = build({"decision_wait": "1s", "policies": [ERRORS]})
    await b.send(span(1, 1, status=2, tracestate="vendor=x"), span(2, 1))
    await b.advance(1.1)
    assert b.out.trace_ids() == {T(1)}
    # late spans: trace 1 was kept -> released at once, with the same threshold; trace 2 was dropped -> dropped
    await b.send(span(1, 5, parent=1, tracestate="vendor=x"), span(2, 5, parent=1, status=2))
    spans = b.out.spans()
    assert len(spans) == 2 and spans[-1][1].span_id[-1] == 5
    assert spans[-1][1].trace_state == "ot=th:0,vendor=x"
    assert b.value("edgetel_tailsampling_late_spans_total", outcome="sampled") == 1
    assert b.value("edgetel_tailsampling_late_spans_total", outcome="not_sampled") == 1
    assert b.proc.stats()["traces"] == 0  # no fragment started for either trace
    await b.advance(5)
    assert len(b.out.spans()) == 2
    assert b.proc.stats() == {"traces": 0, "spans": 0, "bytes": 0, "scopes": 0}


async def test_late_span_without_cache_entry_starts_a_new_trace() -> None:
    b = build({"decision_wait": "1s", "decision_cache": {"sampled_cache_size": 0, "non_sampled_cache_size": 0},
               "policies": [ERRORS]})  # fmt: skip
    await b.send(span(1, 1, status=2))
    await b.advance(1.1)
    await b.send(span(1, 2, parent=1))
    assert b.proc.stats()["traces"] == 1


async def test_decision_caches_are_bounded() -> None:
    b = build({"decision_wait": "1s", "decision_cache": {"sampled_cache_size": 2, "non_sampled_cache_size": 3},
               "policies": [ERRORS]})  # fmt: skip
    await b.send(*[span(n, 1, status=2 if n % 2 else 0) for n in range(1, 21)])
    await b.advance(1.1)
    assert len(b.proc._sampled) == 2 and len(b.proc._not_sampled) == 3


async def test_num_traces_decides_the_oldest_early() -> None:
    b = build({"num_traces": 10, "policies": [ERRORS]})
    await b.send(*[span(n, 1, status=2) for n in range(1, 16)])
    assert b.proc.stats()["traces"] == 10
    assert b.out.trace_ids() == {T(n) for n in range(1, 6)}  # decided early, not lost
    assert b.value("edgetel_tailsampling_early_decisions_total", reason="num_traces") == 5


async def test_max_buffered_bytes_decides_the_oldest_early() -> None:
    b = build({"max_buffered_bytes": "64KiB", "policies": [ALL]})
    big = "x" * 2000
    for n in range(1, 61):
        await b.send(span(n, 1, attrs={"blob": big}))
    assert b.proc.stats()["bytes"] <= 64 * 1024
    assert b.value("edgetel_tailsampling_early_decisions_total", reason="max_buffered_bytes") > 20
    await b.proc.shutdown()
    assert len(b.out.trace_ids()) == 60


async def test_one_huge_trace_is_decided_at_max_spans_per_trace() -> None:
    b = build({"max_spans_per_trace": 100, "policies": [ERRORS]})
    await b.send(*[span(1, s, parent=1, status=2) for s in range(2, 252)], span(2, 1, status=2))
    assert b.value("edgetel_tailsampling_early_decisions_total", reason="max_spans_per_trace") == 1
    assert len([1 for _, sp in b.out.spans() if sp.trace_id == T(1)]) == 250  # the rest followed the decision
    assert b.proc.stats()["traces"] == 1  # trace 2 still waits


async def test_shutdown_decides_and_emits_everything() -> None:
    b = build({"decision_wait": "30s", "policies": [ERRORS]})
    await b.send(*[span(n, 1, status=2) for n in range(1, 101)], *[span(n, 1) for n in range(101, 201)])
    await b.proc.shutdown()
    assert b.out.trace_ids() == {T(n) for n in range(1, 101)}
    assert b.value("edgetel_tailsampling_early_decisions_total", reason="shutdown") == 200
    assert b.proc.stats() == {"traces": 0, "spans": 0, "bytes": 0, "scopes": 0}


@pytest.mark.parametrize("received", [True, False], ids=["received-bytes", "message-only"])
async def test_re_emission_keeps_resources_scopes_and_span_bytes(received: bool) -> None:
    b = build({"policies": [ALL], "write_threshold": False})
    original = batch(span(1, 1, service="a", attrs={"k": "v"}), span(1, 2, parent=1, service="b"),
                     span(2, 1, service="a"))  # fmt: skip
    original.request.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.21.0"
    original.request.resource_spans[0].scope_spans[0].scope.version = "1.2.3"
    want = {(rs.resource.SerializeToString(), ss.scope.SerializeToString(), sp.SerializeToString())
            for rs in original.request.resource_spans for ss in rs.scope_spans for sp in ss.spans}  # fmt: skip
    await b.proc.consume(Traces.parse(original.serialize()) if received else original.copy())
    await b.advance(11)
    out = b.out.batches[0].request
    got = {(rs.resource.SerializeToString(), ss.scope.SerializeToString(), sp.SerializeToString())
           for rs in out.resource_spans for ss in rs.scope_spans for sp in ss.spans}  # fmt: skip
    assert got == want
    assert len(out.resource_spans) == 2  # spans of service a (two traces) share one ResourceSpans
    assert out.resource_spans[0].schema_url == "https://opentelemetry.io/schemas/1.21.0"


async def test_threshold_written_with_existing_entries_preserved() -> None:
    b = build({"policies": [policy("p", "probabilistic", sampling_percentage=100)]})
    tid = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    await b.send(span(tid, 1, tracestate="rojo=00f067aa0ba902b7,ot=rv:ffffffffffffff"),
                 span(tid, 2, parent=1, tracestate="ot=th:8"))  # fmt: skip
    await b.advance(11)
    states = sorted(sp.trace_state for _, sp in b.out.spans())
    assert states == ["ot=th:0;rv:ffffffffffffff,rojo=00f067aa0ba902b7", "ot=th:8"]


async def test_downstream_backpressure_is_retried() -> None:
    b = build({"policies": [ALL]}, out=Collect(refuse=2))
    await b.send(span(1, 1))
    await b.advance(11)
    assert b.out.trace_ids() == {T(1)}


async def test_non_traces_are_refused() -> None:
    from edgetel.component.errors import PermanentError
    from edgetel.pdata import Metrics

    b = build({"policies": [ALL]})
    try:
        await b.proc.consume(Metrics())
    except PermanentError:
        pass
    else:
        raise AssertionError("expected PermanentError")


async def test_decisions_run_on_time_under_load() -> None:
    """Real event loop and clock: a producer floods intake while traces must be decided ~0.3 s after arrival."""
    b = build({"decision_wait": "300ms", "root_grace": "0s", "policies": [ERRORS]})
    b.proc._clock = time.monotonic
    await b.proc.start()
    template = batch(*[span(n, 1, parent=2, status=2 if n % 50 == 0 else 0) for n in range(2000)]).serialize()
    stop = time.monotonic() + 1.5
    sent = 0
    lateness: list[float] = []

    async def produce() -> None:
        nonlocal sent
        while time.monotonic() < stop:
            t = Traces.parse(template)
            for sp in t.request.resource_spans[0].scope_spans[0].spans:
                sp.trace_id = os.urandom(16)
            await b.proc.consume(t)
            sent += 2000
            await asyncio.sleep(0)

    async def watch() -> None:
        while time.monotonic() < stop:
            await asyncio.sleep(0.1)
            lateness.append(b.value("edgetel_tailsampling_decision_lateness_seconds"))

    await asyncio.gather(produce(), watch())
    await b.proc.shutdown()
    assert sent >= 2000
    assert max(lateness) < 0.8, lateness  # decisions are due every 0.3 s; intake never holds them back long
    assert b.value("edgetel_tailsampling_traces_decided_total") == sent


async def test_resource_without_spans_and_empty_batches() -> None:
    b = build({"policies": [ALL]})
    t = Traces()
    t.request.resource_spans.add().scope_spans.add()
    await b.proc.consume(t)
    await b.proc.consume(Traces())
    assert b.proc.stats()["traces"] == 0
    _ = Span  # the Span type is used by helpers


async def test_scopes_are_freed_when_every_span_is_late_or_decided_early() -> None:
    b = build({"decision_wait": "1s", "max_spans_per_trace": 2, "policies": [ERRORS]})
    await b.send(span(1, 1, service="a"))
    await b.advance(1.1)  # trace 1 dropped
    await b.send(span(1, 2, parent=1, service="only-late"))  # the only span of this resource is dropped late
    # trace 2 reaches max_spans_per_trace in the middle of its resource's spans, then trace 3 follows
    await b.send(span(2, 1, service="x"), span(2, 2, parent=1, service="x"), span(3, 1, service="x"))
    await b.proc.shutdown()
    assert b.proc.stats() == {"traces": 0, "spans": 0, "bytes": 0, "scopes": 0}


async def test_received_bytes_with_unknown_fields_and_long_spans() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    b = build({"policies": [ALL], "write_threshold": False})
    t = batch(span(1, 1, attrs={"big": "x" * 5000}), span(1, 2, parent=1))
    raw = t.serialize() + b"\xf8\x01\x05"  # an unknown varint field (31) at the end of the request
    await b.proc.consume(Traces.parse(raw))
    await b.advance(11)
    want = ExportTraceServiceRequest()
    want.ParseFromString(t.serialize())
    got = sorted(sp.SerializeToString() for _, sp in b.out.spans())
    assert got == sorted(sp.SerializeToString() for ss in want.resource_spans[0].scope_spans for sp in ss.spans)


async def test_interleaved_spans_of_one_block_are_grouped_per_trace() -> None:
    """Spans of several traces interleaved in one scope: each trace gets its own spans (bytes, count, duration
    from the earliest start to the latest end, every status code, the root found in the middle)."""
    b = build({"decision_wait": "1s", "root_grace": "10s", "policies": [
        ERRORS, policy("slow", "latency", threshold_ms=500)]})  # fmt: skip
    await b.send(
        span(1, 2, parent=1, start_ms=0, dur_ms=100),
        span(2, 2, parent=1, start_ms=0, dur_ms=10),
        span(1, 1, name="root", start_ms=50, dur_ms=100),
        span(3, 1, name="root3"),
        span(2, 3, parent=1, status=2),
        span(1, 3, parent=1, start_ms=400, dur_ms=200),  # trace 1: 0..600 ms
        span(2, 4, parent=1, status=1),
    )  # fmt: skip
    held = b.proc._traces
    assert [held[T(n)].spans for n in (1, 2, 3)] == [3, 3, 1]
    assert held[T(1)].root_name == "root" and held[T(2)].root_name is None
    assert held[T(2)].codes == 0b111 and held[T(1)].codes == 0b001
    await b.advance(1.1)
    assert b.out.trace_ids() == {T(1), T(2)}
    assert sorted((sp.trace_id[-1], sp.span_id[-1]) for _, sp in b.out.spans()) == [
        (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (2, 4)]  # fmt: skip


async def test_limit_reached_within_one_batch_without_decision_caches() -> None:
    """A trace reaching max_spans_per_trace in the middle of a batch is decided there; with no decision cache
    its remaining spans start a new trace, which is counted and accounted for like any other."""
    b = build({"max_spans_per_trace": 3, "decision_cache": {"sampled_cache_size": 0, "non_sampled_cache_size": 0},
               "policies": [ALL]})  # fmt: skip
    await b.send(*[span(1, s, parent=1) for s in range(2, 7)])
    assert b.value("edgetel_tailsampling_early_decisions_total", reason="max_spans_per_trace") == 1
    assert b.value("edgetel_tailsampling_traces_received_total") == 2
    assert b.proc.stats()["spans"] == 2
    await b.proc.shutdown()
    assert b.proc.stats() == {"traces": 0, "spans": 0, "bytes": 0, "scopes": 0}
    assert len(b.out.spans()) == 5
