"""OTLP/gRPC with a raw grpc.aio channel: every refusal has its status code, the next good request goes through."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from edgetel.component.errors import PermanentError, QueueFullError
from tests.helpers import make_metrics, make_traces
from tests.otlp_receiver.conftest import Harness, running

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


async def call(target: str, method: str, body: bytes, metadata: Any = None, **kw: Any) -> bytes:
    async with grpc.aio.insecure_channel(target, **kw) as ch:
        out: bytes = await ch.unary_unary(method)(body, metadata=metadata, timeout=5)
        return out


async def fails(target: str, method: str, body: bytes, metadata: Any = None, **kw: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(target, method, body, metadata, **kw)
    return info.value


async def good_request_works(rx: Harness, metadata: Any = None) -> None:
    before = rx.traces.items()
    assert await call(rx.grpc_target, TRACES, make_traces(spans=2).serialize(), metadata) == b""
    assert rx.traces.items() == before + 2


async def test_traces_and_metrics(rx: Harness) -> None:
    assert await call(rx.grpc_target, TRACES, make_traces(resources=2, spans=3).serialize()) == b""
    assert await call(rx.grpc_target, METRICS, make_metrics(points=4).serialize()) == b""
    assert rx.traces.items() == 6 and rx.metrics.items() == 4
    assert rx.metric("edgetel_receiver_accepted_spans_total", "otlp", "grpc") == 6
    assert rx.metric("edgetel_receiver_accepted_metric_points_total", "otlp", "grpc") == 4
    assert rx.metric("edgetel_receiver_requests_total", "otlp", "grpc") == 2
    assert rx.metric("edgetel_receiver_request_bytes_total", "otlp", "grpc") > 0


async def test_logs_are_unimplemented(rx: Harness) -> None:
    err = await fails(rx.grpc_target, LOGS, b"")
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    await good_request_works(rx)


async def test_garbage_is_invalid_argument(rx: Harness) -> None:
    err = await fails(rx.grpc_target, TRACES, b"\xff\xff\xff\xff garbage")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "cannot parse" in (err.details() or "")
    assert rx.metric("edgetel_receiver_malformed_requests_total", "otlp", "grpc", "protobuf") == 1
    await good_request_works(rx)


async def test_oversized_is_resource_exhausted() -> None:
    raw = {"protocols": {"grpc": {"endpoint": "127.0.0.1:0", "max_recv_msg_size_mib": 1}}}
    async with running(raw) as rx:
        big = make_traces(spans=20000).serialize()
        assert len(big) > 1 << 20
        err = await fails(rx.grpc_target, TRACES, big)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert rx.traces.batches == []
        await good_request_works(rx)


async def test_gzip_requests(rx: Harness) -> None:
    body = make_traces(spans=50).serialize()
    assert await call(rx.grpc_target, TRACES, body, compression=grpc.Compression.Gzip) == b""
    assert rx.traces.batches[0].serialize() == body  # byte for byte what was sent


async def test_backpressure_is_unavailable_with_retry_info(rx: Harness) -> None:
    rx.traces.fail = QueueFullError("batch", retry_after=1.5)
    err = await fails(rx.grpc_target, TRACES, make_traces(spans=4).serialize())
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    details = dict(err.trailing_metadata() or ())["grpc-status-details-bin"]
    st = status_pb2.Status()
    st.ParseFromString(details)
    info = error_details_pb2.RetryInfo()
    assert st.code == 14 and st.details[0].Unpack(info)
    assert info.retry_delay.seconds == 1 and info.retry_delay.nanos == 500_000_000
    assert rx.metric("edgetel_receiver_refused_spans_total", "otlp", "grpc") == 4

    rx.traces.fail = PermanentError("bad data")
    err = await fails(rx.grpc_target, TRACES, make_traces(spans=1).serialize())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "bad data" in (err.details() or "")
    rx.traces.fail = None
    await good_request_works(rx)


async def test_partial_success(rx: Harness) -> None:
    class Partial(PermanentError):
        rejected = 1

    rx.traces.fail = Partial("one span was refused")
    out = await call(rx.grpc_target, TRACES, make_traces(spans=3).serialize())
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(out)
    assert resp.partial_success.rejected_spans == 1
    assert resp.partial_success.error_message == "one span was refused"


async def test_bearer_token(caplog: Any) -> None:
    raw = {"protocols": {"grpc": {"endpoint": "127.0.0.1:0", "auth": {"bearer_token": "tok-123"}}}}
    async with running(raw) as rx:
        body = make_traces().serialize()
        for md in (None, (("authorization", "Bearer nope"),), (("authorization", "tok-123"),)):
            err = await fails(rx.grpc_target, TRACES, body, md)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert rx.metric("edgetel_receiver_auth_failures_total", "otlp", "grpc") == 3
        assert rx.traces.batches == []
        await good_request_works(rx, (("authorization", "Bearer tok-123"),))
    assert "tok-123" not in caplog.text


async def test_max_connections_refuses_the_connection_past_the_cap() -> None:
    raw = {"protocols": {"grpc": {"endpoint": "127.0.0.1:0", "max_connections": 2}}}
    async with running(raw) as rx:
        body = make_traces(spans=1).serialize()
        opts = [("grpc.use_local_subchannel_pool", 1)]  # one connection per channel
        held = [grpc.aio.insecure_channel(rx.grpc_target, options=opts) for _ in range(2)]
        try:
            for ch in held:
                assert await ch.unary_unary(TRACES)(body, timeout=5) == b""
            err = await fails(rx.grpc_target, TRACES, body, options=opts)
            assert err.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            for ch in held:
                await ch.close()
        await good_request_works(rx)


async def test_max_connection_age_ends_connections_and_clients_reconnect() -> None:
    sp = {"max_connection_age": "300ms", "max_connection_age_grace": "1s"}
    raw = {"protocols": {"grpc": {"endpoint": "127.0.0.1:0", "keepalive": {"server_parameters": sp}}}}
    async with running(raw) as rx:
        body = make_traces(spans=1).serialize()
        async with grpc.aio.insecure_channel(rx.grpc_target) as ch:
            for _ in range(3):
                assert await ch.unary_unary(TRACES)(body, timeout=5) == b""
                await asyncio.sleep(0.6)  # past the age: the server sends GOAWAY, the channel reconnects
        assert rx.traces.items() == 3
