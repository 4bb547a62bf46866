"""The `otlphttp` exporter against a real OTLP/HTTP server."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time

import pytest

from edgetel.pdata import Metrics, Traces
from tests.helpers import IN_CI
from tests.support.certs import have_tools, make_certs
from tests.support.component_testing import FAST_RETRY, config_problems
from tests.support.otlp_data import sample_metrics, sample_traces
from tests.support.otlp_server import OTLPServer, Reply, ServerTLS


def cfg(endpoint: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {"endpoint": endpoint, "retry_on_failure": FAST_RETRY}
    base.update(extra)
    return base


def test_defaults_and_validation() -> None:
    from edgetel.exporters.otlphttp.config import Config

    c = Config(endpoint="http://h:4318/")
    assert (c.compression, c.encoding, float(c.timeout)) == ("gzip", "proto", 30.0)
    assert c.url("traces") == "http://h:4318/v1/traces"
    c.metrics_endpoint = "https://m.example/custom"
    assert c.url("metrics") == "https://m.example/custom"
    assert config_problems("otlphttp", {}) == ["endpoint: must be set (a base URL such as http://collector:4318)"]
    assert config_problems("otlphttp", {"endpoint": "h:4318"})[0].startswith("endpoint: invalid URL")
    assert config_problems("otlphttp", {"traces_endpoint": "http://a/t", "metrics_endpoint": "http://a/m"}) == []
    assert config_problems("otlphttp", {"endpoint": "http://h", "encoding": "xml"})[0].startswith("encoding:")


@pytest.mark.parametrize("encoding", ["proto", "json"])
@pytest.mark.parametrize("compression", ["gzip", "none"])
async def test_every_field_arrives(build, encoding: str, compression: str) -> None:
    async with OTLPServer(grpc_enabled=False) as srv:
        b = build(
            "otlphttp",
            cfg(srv.http_endpoint, encoding=encoding, compression=compression, headers={"X-Tenant": "t1"}),
        )
        await b.exporter.start()
        traces, metrics = Traces(sample_traces()), Metrics(sample_metrics())
        await b.exporter.consume(traces)
        await b.exporter.consume(metrics)
        await srv.wait_for(spans=traces.item_count(), metric_points=metrics.item_count())
        await b.shutdown()
    by_signal = {r.signal: r for r in srv.received}
    for signal, batch in (("traces", traces), ("metrics", metrics)):
        got = by_signal[signal]
        assert got.message == batch.request
        if encoding == "proto":
            assert got.raw == batch.serialize()  # byte for byte
            assert got.headers["content-type"] == "application/x-protobuf"
        else:
            assert got.headers["content-type"] == "application/json"
        assert got.compressed == (compression == "gzip")
        assert got.headers["x-tenant"] == "t1"
        assert got.headers["user-agent"].startswith("edgetel/")
    assert b.value("edgetel_exporter_sent_spans_total") == traces.item_count()


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_statuses(build, status: int) -> None:
    async with OTLPServer(grpc_enabled=False) as srv:
        srv.script(Reply(status=status, message="later"))
        b = build("otlphttp", cfg(srv.http_endpoint))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4)
        await b.shutdown()
    assert [a.answer for a in srv.attempts] == [str(status), "200"]
    assert b.value("edgetel_exporter_retries_total") == 1
    assert b.value("edgetel_exporter_send_errors_total", code=str(status)) == 1
    assert b.value("edgetel_exporter_send_failed_spans_total") == 0


async def test_retry_after_seconds_and_http_date(build) -> None:
    when = email.utils.formatdate(time.time() + 4, usegmt=True)  # whole seconds: 3 to 4 s from now
    async with OTLPServer(grpc_enabled=False) as srv:
        srv.script(Reply(status=429, retry_after="1"), Reply(status=503, retry_after=when))
        b = build("otlphttp", cfg(srv.http_endpoint))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4)
        await b.shutdown()
    a = srv.attempts
    assert [x.answer for x in a] == ["429", "503", "200"]
    assert a[1].at - a[0].at >= 0.95
    assert a[2].at - a[1].at >= 1.0  # until the date, not the 50 ms backoff


@pytest.mark.parametrize("json_body", [False, True])
@pytest.mark.parametrize("status", [400, 401, 403, 413, 500])
async def test_non_retryable_statuses(build, status: int, json_body: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    async with OTLPServer(grpc_enabled=False) as srv:
        srv.script(Reply(status=status, message=f"span 3 is bad ({status})"))
        b = build("otlphttp", cfg(srv.http_endpoint, encoding="json" if json_body else "proto"))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await b.exporter.consume(Traces(sample_traces(1)))  # the next batch still goes through
        await srv.wait_for(spans=4, attempts=2)
        await b.shutdown()
    assert [x.answer for x in srv.attempts] == [str(status), "200"]
    assert b.value("edgetel_exporter_send_failed_spans_total") == 4
    assert b.value("edgetel_exporter_retries_total") == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].error.endswith(f": span 3 is bad ({status})")  # type: ignore[attr-defined]
    assert errors[0].error.startswith(f"HTTP {status} from http://")  # type: ignore[attr-defined]


@pytest.mark.parametrize("encoding", ["proto", "json"])
async def test_partial_success(build, encoding: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with OTLPServer(grpc_enabled=False) as srv:
        srv.script(Reply(rejected=3, message="3 spans too old"), Reply(rejected=1, message="nan"))
        b = build("otlphttp", cfg(srv.http_endpoint, encoding=encoding))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(2)))
        await srv.wait_for(spans=8)
        await b.exporter.consume(Metrics(sample_metrics()))
        await srv.wait_for(metric_points=1)
        await b.shutdown()
    assert len(srv.attempts) == 2
    assert b.value("edgetel_exporter_partial_rejected_spans_total") == 3
    assert b.value("edgetel_exporter_partial_rejected_metric_points_total") == 1
    assert b.value("edgetel_exporter_sent_spans_total") == 8
    warnings = [r for r in caplog.records if "partial success" in r.getMessage()]
    assert warnings[0].error == "3 spans too old"  # type: ignore[attr-defined]


async def test_signal_endpoint_override(build) -> None:
    async with OTLPServer(grpc_enabled=False) as srv:
        b = build("otlphttp", cfg(srv.http_endpoint, traces_endpoint=f"{srv.http_endpoint}/custom/traces"))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4)
        await b.shutdown()


async def test_timeout_is_retried(build) -> None:
    async with OTLPServer(grpc_enabled=False) as srv:
        srv.script(Reply(delay=1.0))
        b = build("otlphttp", cfg(srv.http_endpoint, timeout="200ms"))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4, attempts=2)
        await b.shutdown()
    assert b.value("edgetel_exporter_send_errors_total", code="timeout") == 1


async def test_backend_down_at_start_then_up(build) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = build("otlphttp", cfg(f"http://127.0.0.1:{port}", retry_on_failure={**FAST_RETRY, "max_elapsed_time": "30s"}))
    await b.exporter.start()
    try:
        await b.exporter.consume(Traces(sample_traces(1)))
        for _ in range(200):
            if b.value("edgetel_exporter_retries_total") >= 3:
                break
            await asyncio.sleep(0.02)
        assert b.value("edgetel_exporter_send_errors_total", code="connection") >= 3
        async with OTLPServer(grpc_enabled=False, http_port=port) as srv:
            await srv.wait_for(spans=4, within=15)
    finally:
        await b.shutdown()
    assert b.value("edgetel_exporter_sent_spans_total") == 4


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if not have_tools():
        if IN_CI:
            pytest.fail("openssl CLI not installed (CI=true: not skipping)")
        pytest.skip("openssl CLI not installed")
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_https_mtls_and_name_override(build, certs) -> None:  # type: ignore[no-untyped-def]
    tls = ServerTLS(certs.server_cert, certs.server_key, client_ca_file=certs.ca)
    async with OTLPServer(grpc_enabled=False, tls=tls) as srv:
        assert srv.http_endpoint.startswith("https://")
        port = srv.http_endpoint.rsplit(":", 1)[1]
        client = {"ca_file": certs.ca, "cert_file": certs.client_cert, "key_file": certs.client_key}
        for endpoint, extra in (
            (srv.http_endpoint, {}),
            (f"https://localhost:{port}", {"server_name_override": "backend.test"}),
        ):
            b = build("otlphttp", cfg(endpoint, tls={**client, **extra}))
            await b.exporter.start()
            await b.exporter.consume(Traces(sample_traces(1)))
            await srv.wait_for(spans=4 * len(srv.received) + 4)
            await b.shutdown()
        # no client certificate: the server refuses the handshake; retried as a connection error
        b = build("otlphttp", cfg(srv.http_endpoint, tls={"ca_file": certs.ca}))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        for _ in range(200):
            if b.value("edgetel_exporter_retries_total") >= 1:
                break
            await asyncio.sleep(0.02)
        await b.shutdown(deadline=0.2)
        assert b.value("edgetel_exporter_send_errors_total", code="connection") >= 1
        assert len(srv.received) == 2


async def test_https_insecure_skip_verify(build, certs) -> None:  # type: ignore[no-untyped-def]
    async with OTLPServer(grpc_enabled=False, tls=ServerTLS(certs.server_cert, certs.server_key)) as srv:
        b = build("otlphttp", cfg(srv.http_endpoint, tls={"insecure_skip_verify": True}))
        await b.exporter.start()
        await b.exporter.consume(Traces(sample_traces(1)))
        await srv.wait_for(spans=4)
        await b.shutdown()
