"""The `otlp` exporter against a real gRPC OTLP server (the official generated service classes)."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.component.errors import PermanentError
from edgetel.pdata import Metrics, Traces
from tests.helpers import IN_CI
from tests.support.certs import have_tools, make_certs
from tests.support.component_testing import FAST_RETRY, config_problems
from tests.support.otlp_data import attrs, sample_metrics, sample_traces
from tests.support.otlp_server import OTLPServer, Reply, ServerTLS
from tests.support.tcp_relay import TCPRelay

RETRYABLE = ["CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"]
NOT_RETRYABLE = ["INVALID_ARGUMENT", "PERMISSION_DENIED", "UNAUTHENTICATED", "INTERNAL", "UNIMPLEMENTED"]


def cfg(endpoint: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {"endpoint": endpoint, "tls": {"insecure": True}, "retry_on_failure": FAST_RETRY}
    base.update(extra)
    return base


def test_defaults_and_validation() -> None:
    from edgetel.exporters.otlp.config import Config

    c = Config()
    assert (c.compression, float(c.timeout), c.tls.insecure) == ("gzip", 5.0, False)
    assert config_problems("otlp", {}) == ["endpoint: must be set (host:port or unix:///path)"]
    assert config_problems("otlp", {"endpoint": "http://h:4317"})[0].startswith("endpoint: http:// means plain")
    assert config_problems("otlp", {"endpoint": "h:99999"}) == ["endpoint: invalid port in 'h:99999'"]
    probs = config_problems("otlp", {"endpoint": "h", "tls": {"insecure_skip_verify": True, "cert_file": "/x"}})
    assert any(p.startswith("tls.key_file: cert_file and key_file") for p in probs)
    assert any(p.startswith("tls.cert_file: no such file") for p in probs)
    assert any(p.startswith("tls.insecure_skip_verify: not supported") for p in probs)
    assert config_problems("otlp", {"endpoint": "unix:///run/x.sock", "compression": "none"}) == []


async def test_every_field_arrives_byte_for_byte(build) -> None:
    async with OTLPServer(http_enabled=False) as srv:
        b = build("otlp", cfg(srv.endpoint, headers={"X-Tenant": "t1", "authorization": "Bearer s3cret"}))
        await b.exporter.start()
        try:
            traces, metrics = Traces(sample_traces()), Metrics(sample_metrics())
            await b.exporter.consume(traces)
            await b.exporter.consume(metrics)
            await srv.wait_for(spans=traces.item_count(), metric_points=metrics.item_count())
        finally:
            await b.shutdown()
    by_signal = {r.signal: r for r in srv.received}
    assert by_signal["traces"].raw == traces.serialize()
    assert by_signal["metrics"].raw == metrics.serialize()
    assert by_signal["traces"].message == sample_traces()
    headers = by_signal["traces"].headers
    assert headers["x-tenant"] == "t1" and headers["authorization"] == "Bearer s3cret"
    assert "edgetel/" in headers["user-agent"]
    assert b.value("edgetel_exporter_sent_spans_total") == traces.item_count()
    assert b.value("edgetel_exporter_sent_metric_points_total") == metrics.item_count()
    assert b.value("edgetel_exporter_send_failed_spans_total") == 0


@pytest.mark.parametrize("compression", ["gzip", "none"])
async def test_gzip_on_the_wire(build, compression: str) -> None:
    req = ExportTraceServiceRequest()
    sp = req.resource_spans.add().scope_spans.add().spans.add(name="x" * 10)
    sp.attributes.extend(attrs({"payload": "abcdefgh" * 20_000}))  # 160 kB, very compressible
    async with OTLPServer(http_enabled=False) as srv:
        host, port = srv.endpoint.rsplit(":", 1)
        async with TCPRelay(host, int(port)) as relay:
            b = build("otlp", cfg(relay.endpoint, compression=compression))
            await b.exporter.start()
            await b.exporter.consume(Traces(req))
            await srv.wait_for(spans=1)
            await b.shutdown()
    assert srv.received[0].raw == req.SerializeToString()
    if compression == "gzip":
        assert relay.upstream_bytes < 20_000
    else:
        assert relay.upstream_bytes > 160_000


@pytest.mark.parametrize("code", RETRYABLE)
async def test_retryable_codes_are_retried(build, code: str) -> None:
    async with OTLPServer(http_enabled=False) as srv:
        srv.script(Reply(code=grpc.StatusCode[code], message=f"try later ({code})"))
        b = build("otlp", cfg(srv.endpoint))
        await b.exporter.start()
        traces = Traces(sample_traces(1))
        await b.exporter.consume(traces)
        await srv.wait_for(spans=traces.item_count())
        await b.shutdown()
    assert [a.answer for a in srv.attempts] == [code, "OK"]
    assert srv.received[0].raw == traces.serialize()
    assert b.value("edgetel_exporter_retries_total") == 1
    assert b.value("edgetel_exporter_send_errors_total", code=code) == 1
    assert b.value("edgetel_exporter_sent_spans_total") == traces.item_count()
    assert b.value("edgetel_exporter_send_failed_spans_total") == 0


async def test_resource_exhausted_with_retry_info_waits_the_given_delay(build) -> None:
    async with OTLPServer(http_enabled=False) as srv:
        srv.script(
            Reply(code=grpc.StatusCode.RESOURCE_EXHAUSTED, message="slow down", retry_delay=0.4),
            Reply(code=grpc.StatusCode.UNAVAILABLE, message="busy", retry_delay=0.3),
        )
        b = build("otlp", cfg(srv.endpoint))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4)
        await b.shutdown()
    a = srv.attempts
    assert [x.answer for x in a] == ["RESOURCE_EXHAUSTED", "UNAVAILABLE", "OK"]
    assert a[1].at - a[0].at >= 0.38  # RetryInfo, not the 50 ms backoff
    assert a[2].at - a[1].at >= 0.28
    assert b.value("edgetel_exporter_retries_total") == 2


@pytest.mark.parametrize("code", [*NOT_RETRYABLE, "RESOURCE_EXHAUSTED"])
async def test_non_retryable_codes_drop_the_batch(build, code: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    async with OTLPServer(http_enabled=False) as srv:
        srv.script(Reply(code=grpc.StatusCode[code], message=f"server says no ({code})"))
        b = build("otlp", cfg(srv.endpoint))
        await b.exporter.start()
        traces = Traces(sample_traces(1))
        await b.exporter.consume(traces)
        await b.exporter.consume(Traces(sample_traces(1)))  # the next batch still goes through
        await srv.wait_for(spans=traces.item_count(), attempts=2)
        await b.shutdown()
    assert [x.answer for x in srv.attempts] == [code, "OK"]
    assert b.value("edgetel_exporter_send_failed_spans_total") == traces.item_count()
    assert b.value("edgetel_exporter_sent_spans_total") == traces.item_count()
    assert b.value("edgetel_exporter_retries_total") == 0
    assert b.value("edgetel_exporter_send_errors_total", code=code) == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"server says no ({code})" in errors[0].error  # type: ignore[attr-defined]


async def test_partial_success_is_counted_and_logged(build, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with OTLPServer(http_enabled=False) as srv:
        srv.script(Reply(rejected=3, message="3 spans had no name"), Reply(rejected=2, message="points"))
        b = build("otlp", cfg(srv.endpoint))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(2)))
        await srv.wait_for(spans=8)
        await b.exporter.consume(Metrics(sample_metrics()))
        await srv.wait_for(metric_points=1)
        await b.shutdown()
    assert len(srv.attempts) == 2  # a partial success is never retried
    assert b.value("edgetel_exporter_partial_rejected_spans_total") == 3
    assert b.value("edgetel_exporter_partial_rejected_metric_points_total") == 2
    warnings = [r for r in caplog.records if "partial success" in r.getMessage()]
    assert warnings[0].error == "3 spans had no name"  # type: ignore[attr-defined]


async def test_timeout_is_deadline_exceeded_and_retried(build) -> None:
    async with OTLPServer(http_enabled=False) as srv:
        srv.script(Reply(delay=1.0))
        b = build("otlp", cfg(srv.endpoint, timeout="200ms"))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4, attempts=2)
        await b.shutdown()
    assert b.value("edgetel_exporter_send_errors_total", code="DEADLINE_EXCEEDED") == 1
    assert b.value("edgetel_exporter_sent_spans_total") == 4


async def test_backend_down_at_start_then_up(build) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = build("otlp", cfg(f"127.0.0.1:{port}", retry_on_failure={**FAST_RETRY, "max_elapsed_time": "30s"}))
    await b.exporter.start()
    try:
        await b.exporter.consume(Traces(sample_traces(1)))
        for _ in range(200):
            if b.value("edgetel_exporter_retries_total") >= 3:
                break
            await asyncio.sleep(0.02)
        assert b.value("edgetel_exporter_retries_total") >= 3
        assert b.value("edgetel_exporter_send_errors_total", code="UNAVAILABLE") >= 3
        async with OTLPServer(http_enabled=False, grpc_port=port) as srv:
            await srv.wait_for(spans=4, within=15)
    finally:
        await b.shutdown()
    assert b.value("edgetel_exporter_sent_spans_total") == 4
    assert b.value("edgetel_exporter_send_failed_spans_total") == 0


async def test_queue_disabled_returns_permanent_error_to_caller(build) -> None:
    async with OTLPServer(http_enabled=False) as srv:
        srv.script(Reply(code=grpc.StatusCode.INVALID_ARGUMENT, message="bad"))
        b = build("otlp", cfg(srv.endpoint, sending_queue={"enabled": False}))
        await b.exporter.start()
        with pytest.raises(PermanentError, match="INVALID_ARGUMENT: bad"):
            await b.exporter.consume(Traces(sample_traces(1)))
        await b.exporter.consume(Traces(sample_traces(1)))
        await b.shutdown()
    assert len(srv.received) == 1


async def test_unix_socket_endpoint(build, tmp_path: Path) -> None:
    path = tmp_path / "otlp.sock"
    async with OTLPServer(http_enabled=False, unix_path=str(path)) as srv:
        b = build("otlp", cfg(f"unix://{path}"))
        await b.exporter.start()
        traces = Traces(sample_traces(1))
        await b.exporter.consume(traces)
        await srv.wait_for(spans=4)
        await b.shutdown()
    assert srv.received[0].raw == traces.serialize()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if not have_tools():
        if IN_CI:
            pytest.fail("openssl CLI not installed (CI=true: not skipping)")
        pytest.skip("openssl CLI not installed")
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_tls_and_mtls(build, certs) -> None:  # type: ignore[no-untyped-def]
    tls = ServerTLS(certs.server_cert, certs.server_key, client_ca_file=certs.ca)
    async with OTLPServer(http_enabled=False, tls=tls) as srv:
        b = build(
            "otlp",
            {
                "endpoint": srv.endpoint,
                "tls": {"ca_file": certs.ca, "cert_file": certs.client_cert, "key_file": certs.client_key},
                "retry_on_failure": FAST_RETRY,
            },
        )
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4)
        await b.shutdown()


async def test_tls_server_name_override(build, certs) -> None:  # type: ignore[no-untyped-def]
    async with OTLPServer(http_enabled=False, tls=ServerTLS(certs.server_cert, certs.server_key)) as srv:
        port = srv.endpoint.rsplit(":", 1)[1]
        good = build("otlp", {"endpoint": f"localhost:{port}", "tls": {"ca_file": certs.ca,
                     "server_name_override": "backend.test"}, "retry_on_failure": FAST_RETRY})  # fmt: skip
        await good.exporter.start()
        await good.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4)
        await good.shutdown()
        # a name the certificate does not have: the handshake fails (UNAVAILABLE, retried), nothing arrives
        bad = build("otlp", {"endpoint": srv.endpoint, "tls": {"ca_file": certs.ca,
                    "server_name_override": "wrong.test"}, "retry_on_failure": FAST_RETRY})  # fmt: skip
        await bad.exporter.start()
        await bad.exporter.consume(Traces(sample_traces(1)))
        for _ in range(200):
            if bad.value("edgetel_exporter_retries_total") >= 1:
                break
            await asyncio.sleep(0.02)
        await bad.shutdown()
        assert bad.value("edgetel_exporter_send_errors_total", code="UNAVAILABLE") >= 1
        assert srv.spans() == 4


async def test_disk_buffer_keeps_data_across_an_exporter_restart(build, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    raw = cfg(f"127.0.0.1:{port}", buffer={"type": "disk", "directory": str(tmp_path)})
    first = build("otlp", raw)
    await first.exporter.start()
    traces = Traces(sample_traces(1))
    await first.exporter.consume(traces)  # the backend is down: it stays in the disk buffer
    await first.shutdown(deadline=0.3)
    second = build("otlp", raw)
    async with OTLPServer(http_enabled=False, grpc_port=port) as srv:
        await second.exporter.start()
        await srv.wait_for(spans=4)
        await second.shutdown()
    assert srv.received[0].raw == traces.serialize()
