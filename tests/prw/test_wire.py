"""What the exporter sends, checked at the HTTP level against a real aiohttp server that records requests."""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path
from typing import Any

import cramjam
import pytest
from aiohttp import web

from tests.prw.otlp import Builder
from tests.prw.wire import WriteRequest, write_request
from tests.support.component_testing import FAST_RETRY, build_exporter, config_problems

STALE_BITS = 0x7FF0000000000002


class Recorder:
    """Answers with the scripted statuses in order (then 204) and records every request."""

    def __init__(self, script: list[tuple[int, dict[str, str], str]] | None = None, ssl: Any = None) -> None:
        self.script = list(script or [])
        self.ssl = ssl
        self.requests: list[tuple[dict[str, str], bytes, float]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body, time.monotonic()))
        if self.script:
            status, headers, text = self.script.pop(0)
            return web.Response(status=status, headers=headers, text=text)
        return web.Response(status=204)

    async def __aenter__(self) -> Recorder:
        app = web.Application()
        app.router.add_post("/api/v1/write", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"{'https' if self.ssl else 'http'}://127.0.0.1:{port}/api/v1/write"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def decoded(self) -> list[WriteRequest]:
        return [write_request(bytes(cramjam.snappy.decompress_raw(body))) for _, body, _ in self.requests]


async def run(rec: Recorder, batches: list[Any], **extra: Any) -> Any:
    built = build_exporter("prometheusremotewrite", {"endpoint": rec.url, "retry_on_failure": FAST_RETRY, **extra})
    await built.exporter.start()
    for b in batches:
        await built.exporter.consume(b)
    deadline = time.monotonic() + 10
    while built.exporter.queued() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await built.shutdown()
    return built


async def test_headers_auth_body_and_metadata(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    async with Recorder() as rec:
        b = Builder().gauge(
            "temp",
            [(1_700_000_000_000, 21.5)],
            unit="Cel",
            description="room temperature",
            attrs={"b": "2", "a": "1", "empty": ""},
        )
        await run(rec, [b.done()], headers={"X-Scope-OrgID": "team-a"}, auth={"bearer_token_file": str(token)})
    headers, body, _ = rec.requests[0]
    assert headers["Content-Encoding"] == "snappy"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["User-Agent"].startswith("edgetel/")
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert headers["X-Scope-OrgID"] == "team-a"
    assert headers["Authorization"] == "Bearer s3cret"
    assert not body.startswith(b"\xff\x06\x00\x00sNaPpY")  # block format, not framed
    reqs = rec.decoded()
    meta = [m for r in reqs for m in r.metadata]
    assert {m[2].decode(): (m[1], m.get(4, b"").decode(), m.get(5, b"").decode()) for m in meta} == {
        "temp_celsius": (2, "room temperature", "celsius"),
    }
    series = [s for r in reqs for s in r.series]
    assert len(series) == 1
    s = series[0]
    assert s.labels == sorted(s.labels)
    assert s.labels == [
        ("__name__", "temp_celsius"),
        ("a", "1"),
        ("b", "2"),
        ("job", "svc"),
        ("otel_scope_name", "test"),
    ]  # the empty value is dropped
    assert s.value() == 21.5 and s.samples[0][1] == 1_700_000_000_000


async def test_basic_auth() -> None:
    async with Recorder() as rec:
        await run(
            rec,
            [Builder().gauge("g", [(1_700_000_000_000, 1.0)]).done()],
            auth={"basic_auth": {"username": "u", "password": "p"}},
        )
    assert rec.requests[0][0]["Authorization"] == "Basic dTpw"


def test_reserved_headers_and_bad_config_are_refused() -> None:
    problems = config_problems(
        "prometheusremotewrite",
        {
            "endpoint": "127.0.0.1:9090",
            "headers": {"Content-Type": "text/plain"},
            "external_labels": {"__x": "y"},
            "sending_queue": {"num_consumers": 4},
            "auth": {"bearer_token": "a", "bearer_token_file": "/f"},
        },
    )
    text = "\n".join(problems)
    for key in (
        "endpoint",
        "headers.Content-Type",
        "external_labels.__x",
        "sending_queue.num_consumers",
        "auth.bearer_token_file",
    ):
        assert key in text, text
    assert config_problems("prometheusremotewrite", {"endpoint": "http://127.0.0.1:9090/api/v1/write"}) == []


async def test_batches_are_cut_by_samples_and_bytes() -> None:
    points = [(1_700_000_000_000 + i, float(i)) for i in range(95)]
    async with Recorder() as rec:
        await run(
            rec, [Builder().gauge("g", points).done()], max_samples_per_send=30, send_metadata=False, target_info=False
        )
        counts = [len(r.series) for r in rec.decoded()]
    assert counts == [30, 30, 30, 5]
    async with Recorder() as rec:
        await run(rec, [Builder().gauge("g", points).done()], max_batch_bytes="2KiB", send_metadata=False)
        reqs = rec.decoded()
    assert all(len(bytes(cramjam.snappy.decompress_raw(b))) <= 2048 for _, b, _ in rec.requests)
    ts = [s.samples[0][1] for r in reqs for s in r.series]
    assert ts == sorted(ts) and len(ts) == 95  # per-series order kept across requests


async def test_retries_429_with_retry_after_and_5xx_resuming_where_it_stopped() -> None:
    points = [(1_700_000_000_000 + i, float(i)) for i in range(10)]
    script = [(204, {}, ""), (429, {"Retry-After": "1"}, "slow down"), (503, {}, "busy")]
    async with Recorder(script) as rec:
        built = await run(
            rec, [Builder().gauge("g", points).done()], max_samples_per_send=5, send_metadata=False, target_info=False
        )
    times = [t for _, _, t in rec.requests]
    assert len(times) == 4
    assert times[2] - times[1] >= 0.95  # Retry-After honoured
    series = [s for r in rec.decoded() for s in r.series]
    # request 1 delivered once, request 2 retried twice then delivered: no duplicates
    assert [s.samples[0][1] for s in series] == [p[0] for p in points[:5]] + [p[0] for p in points[5:]] * 3
    assert built.value("edgetel_exporter_prw_samples_sent_total") == 10
    assert built.value("edgetel_exporter_retries_total") == 2


async def test_400_drops_one_request_only() -> None:
    points = [(1_700_000_000_000 + i, float(i)) for i in range(10)]
    async with Recorder([(400, {}, "out of order sample")]) as rec:
        built = await run(
            rec, [Builder().gauge("g", points).done()], max_samples_per_send=5, send_metadata=False, target_info=False
        )
    assert len(rec.requests) == 2
    assert built.value("edgetel_exporter_prw_samples_dropped_total", reason="rejected") == 5
    assert built.value("edgetel_exporter_prw_samples_sent_total") == 5


async def test_out_of_order_points_are_dropped_locally_and_stale_markers_have_the_stale_nan() -> None:
    t = 1_700_000_000_000
    async with Recorder() as rec:
        built = await run(
            rec,
            [
                Builder().gauge("a", [(t, 1.0), (t + 10, 2.0)]).gauge("b", [(t, 5.0)]).done(),
                Builder().gauge("a", [(t + 5, 9.0)]).done(),  # older than what was sent: would poison a request
                Builder().gauge("a", [(t + 400_000, 3.0)]).done(),  # b silent for > stale_after
            ],
            stale_after="5m",
            send_metadata=False,
            target_info=False,
        )
    series = [s for r in rec.decoded() for s in r.series]
    b = [s for s in series if s.name == "b"]
    assert len(b) == 2
    assert struct.unpack("<Q", b[1].samples[0][0])[0] == STALE_BITS
    assert b[1].samples[0][1] == t + 400_000
    assert [s.value() for s in series if s.name == "a"] == [1.0, 2.0, 3.0]
    assert built.value("edgetel_exporter_prw_samples_dropped_total", reason="out_of_order") == 1


@pytest.mark.parametrize("conversion", [False, True])
async def test_resource_to_telemetry_conversion(conversion: bool) -> None:
    async with Recorder() as rec:
        b = Builder(resource={"host.name": "edge1", "k8s.pod.name": "p"}).gauge(
            "g", [(1_700_000_000_000, 1.0)], attrs={"host.name": "override"}
        )
        await run(
            rec,
            [b.done()],
            resource_to_telemetry_conversion={"enabled": conversion},
            send_metadata=False,
            external_labels={"cluster": "c1", "host_name": "never"},
        )
    series = {s.name: dict(s.labels) for r in rec.decoded() for s in r.series}
    assert series["target_info"] == {
        "__name__": "target_info",
        "job": "svc",
        "host_name": "edge1",
        "k8s_pod_name": "p",
        "cluster": "c1",
    }
    g = series["g"]
    assert g["host_name"] == "override" and g["cluster"] == "c1"
    assert ("k8s_pod_name" in g) is conversion
    assert ("service_name" in g) is conversion


async def test_mtls(tmp_path: Path) -> None:
    import ssl

    from tests.helpers import IN_CI
    from tests.support.certs import have_tools, make_certs

    if not have_tools():
        if IN_CI:
            pytest.fail("openssl CLI not installed (CI=true: not skipping)")
        pytest.skip("openssl CLI not installed")
    certs = make_certs(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certs.ca)
    server.load_cert_chain(certs.server_cert, certs.server_key)
    server.verify_mode = ssl.CERT_REQUIRED
    tls = {"ca_file": certs.ca, "cert_file": certs.client_cert, "key_file": certs.client_key}
    async with Recorder(ssl=server) as rec:
        built = await run(rec, [Builder().gauge("g", [(1_700_000_000_000, 1.0)]).done()], tls=tls)
        override = await run(
            rec,
            [Builder().gauge("g", [(1_700_000_000_000, 1.0)]).done()],
            tls={**tls, "server_name_override": "backend.test"},
        )
    assert built.value("edgetel_exporter_prw_samples_sent_total") > 0
    assert override.value("edgetel_exporter_prw_samples_sent_total") > 0
    assert rec.decoded()[-1].series[0].name == "g"


async def test_idle_series_get_stale_markers_on_a_timer() -> None:
    """No data at all for `stale_after`: the markers go out without waiting for the next batch."""
    now = int(time.time() * 1000)
    async with Recorder() as rec:
        built = build_exporter(
            "prometheusremotewrite",
            {"endpoint": rec.url, "stale_after": "2s", "send_metadata": False, "target_info": False},
        )
        await built.exporter.start()
        try:
            await built.exporter.consume(Builder().gauge("g", [(now, 1.0)]).done())
            deadline = time.monotonic() + 8
            while len(rec.requests) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            await built.shutdown()
    first, marker = (r.series[0] for r in rec.decoded()[:2])
    assert first.value() == 1.0
    assert struct.unpack("<Q", marker.samples[0][0])[0] == STALE_BITS
    assert marker.samples[0][1] > now
