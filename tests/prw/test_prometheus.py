"""The exporter against a real Prometheus 2.42: what arrives is queried back with PromQL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.prw.otlp import DELTA, Builder
from tests.support.component_testing import FAST_RETRY, build_exporter
from tests.support.prometheus import Prometheus

pytestmark = pytest.mark.peer


def exporter(prom: Prometheus, **extra: Any) -> Any:
    raw = {"endpoint": prom.write_url, "retry_on_failure": FAST_RETRY, **extra}
    return build_exporter("prometheusremotewrite", raw)


async def drain(built: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while built.exporter.queued() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not built.exporter.queued()


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_names_labels_values_rate_and_quantile(prometheus: Prometheus) -> None:
    built = exporter(prometheus, external_labels={"cluster": "prod"})
    await built.exporter.start()
    t0 = now_ms() - 5 * 60_000  # five minutes of samples, one every 15 s, ending now
    times = [t0 + i * 15_000 for i in range(21)]
    b = Builder(
        resource={"service.namespace": "shop", "service.instance.id": "i-1", "host.name": "edge1"},
        scope="my.lib",
        version="1.2",
    )
    b.sum(
        "http.server.requests",
        [(t, 10.0 * i) for i, t in enumerate(times)],
        unit="{request}",
        attrs={"http.method": "GET", "http.status_code": 200},
    )
    b.gauge("process.memory.usage", [(times[-1], 1234.0)], unit="By", attrs={"weird-key.x": "v"})
    b.gauge("cpu.utilization", [(times[-1], 0.5)], unit="1")
    # 10 requests per 15 s: 8 in <= 0.1 s, 2 in (0.1, 0.5]
    b.histogram(
        "http.server.duration",
        [(t, [8 * i, 2 * i, 0], 1.0 * i) for i, t in enumerate(times)],
        bounds=[0.1, 0.5],
        unit="s",
    )
    await built.exporter.consume(b.done())
    await drain(built)
    await built.shutdown()

    series = prometheus.series('{__name__="http_server_requests_total"}')
    assert series == [
        {
            "__name__": "http_server_requests_total",
            "job": "shop/svc",
            "instance": "i-1",
            "cluster": "prod",
            "http_method": "GET",
            "http_status_code": "200",
            "otel_scope_name": "my.lib",
            "otel_scope_version": "1.2",
        }
    ]
    assert prometheus.value("process_memory_usage_bytes") == 1234.0
    assert prometheus.series("process_memory_usage_bytes")[0]["weird_key_x"] == "v"
    assert prometheus.value("cpu_utilization_ratio") == 0.5
    info = prometheus.series("target_info")
    assert info == [
        {"__name__": "target_info", "job": "shop/svc", "instance": "i-1", "host_name": "edge1", "cluster": "prod"}
    ]
    rate = prometheus.value("rate(http_server_requests_total[2m])")
    assert rate == pytest.approx(10 / 15, rel=1e-6)
    q50 = prometheus.value("histogram_quantile(0.5, sum by (le) (rate(http_server_duration_seconds_bucket[2m])))")
    assert q50 == pytest.approx(0.1 * 5 / 8, rel=1e-6)
    q90 = prometheus.value("histogram_quantile(0.9, sum by (le) (rate(http_server_duration_seconds_bucket[2m])))")
    assert q90 == pytest.approx(0.1 + 0.4 * 0.5, rel=1e-6)
    assert prometheus.value("http_server_duration_seconds_count") == 200.0
    assert prometheus.value("http_server_duration_seconds_sum") == 20.0
    assert built.value("edgetel_exporter_prw_samples_dropped_total") == 0


async def test_delta_sums_become_cumulative(prometheus: Prometheus) -> None:
    built = exporter(prometheus)
    await built.exporter.start()
    t0 = now_ms() - 60_000
    for i in range(4):  # four StatsD-style flushes of 5 each
        b = Builder().sum("jobs.done", [(t0 + i * 10_000, 5.0)], temporality=DELTA, as_int=True)
        await built.exporter.consume(b.done())
    await drain(built)
    await built.shutdown()
    assert prometheus.value("jobs_done_total") == 20.0
    got = prometheus.query("jobs_done_total[5m]")[0]["values"]
    assert [float(v) for _, v in got] == [5.0, 10.0, 15.0, 20.0]


async def test_sdk_metrics_delta_temporality(prometheus: Prometheus) -> None:
    """Metrics recorded with the OpenTelemetry SDK (delta counters, as a StatsD-like client would produce)."""
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    from edgetel.pdata import Metrics

    reader = InMemoryMetricReader(
        preferred_temporality={
            Counter: AggregationTemporality.DELTA,
            Histogram: AggregationTemporality.DELTA,
        }
    )
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "sdk-app"}))
    meter = provider.get_meter("sdk.test", "0.1")
    counter = meter.create_counter("orders", unit="{order}", description="orders placed")
    hist = meter.create_histogram("latency", unit="ms")
    built = exporter(prometheus)
    await built.exporter.start()
    try:
        for round_ in range(3):
            counter.add(7, {"shop": "north"})
            hist.record(42.0 + round_)
            await built.exporter.consume(Metrics(encode_metrics(reader.get_metrics_data())))
            await asyncio.sleep(0.01)  # distinct millisecond timestamps
        await drain(built)
    finally:
        await built.shutdown()
        provider.shutdown()
    assert prometheus.value('orders_total{shop="north", job="sdk-app"}') == 21.0
    assert prometheus.value("latency_milliseconds_count") == 3.0
    assert prometheus.value("latency_milliseconds_sum") == pytest.approx(129.0)
    assert prometheus.value('latency_milliseconds_bucket{le="+Inf"}') == 3.0
    assert prometheus.value('latency_milliseconds_bucket{le="50"}') == 3.0
    assert prometheus.value('latency_milliseconds_bucket{le="25"}') == 0.0


async def test_stale_markers(prometheus: Prometheus) -> None:
    built = exporter(prometheus, stale_after="1m")
    await built.exporter.start()
    t0 = now_ms() - 6 * 60_000
    for i in range(17):  # 4 minutes; "gone" stops after 2 minutes
        t = t0 + i * 15_000
        b = Builder().gauge("alive", [(t, 1.0)])
        if i <= 8:
            b.gauge("gone", [(t, 2.0)])
        await built.exporter.consume(b.done())
    # a point flagged NO_RECORDED_VALUE ends its series at once
    b = Builder().gauge("ended", [(t0, 3.0)])
    await built.exporter.consume(b.done())
    b = Builder().gauge("ended", [(t0 + 15_000, 0.0)])
    b.sm.metrics[0].gauge.data_points[0].flags = 1
    await built.exporter.consume(b.done())
    await drain(built)
    await built.shutdown()
    at = (t0 + 2 * 60_000) / 1000
    assert prometheus.value("gone", time=at) == 2.0
    assert prometheus.value("gone", time=at + 100) is None  # stale: not carried over by the 5 min look-back
    assert prometheus.value("alive", time=at + 100) == 1.0
    assert prometheus.value("ended", time=t0 / 1000 + 5) == 3.0
    assert prometheus.value("ended", time=t0 / 1000 + 16) is None
    assert built.metrics.value("edgetel_exporter_prw_stale_markers_total", "prometheusremotewrite") >= 1


async def test_native_histograms(prometheus_native: Prometheus) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    from edgetel.pdata import Metrics

    built = exporter(prometheus_native)
    await built.exporter.start()
    t0 = now_ms() - 60_000
    for i, temporality in enumerate((DELTA, DELTA)):
        req = ExportMetricsServiceRequest()
        m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="rpc.latency", unit="s")
        m.exponential_histogram.aggregation_temporality = temporality
        # scale 10 is finer than Prometheus allows: merged down to schema 8
        dp = m.exponential_histogram.data_points.add(
            time_unix_nano=(t0 + i * 10_000) * 1_000_000, count=10, sum=12.0, scale=10, zero_count=2
        )
        dp.positive.offset = 1024  # (2^1, ...]: index 1024 at scale 10 is 2^(1024/1024) = 2
        dp.positive.bucket_counts.extend([4, 0, 0, 4])
        await built.exporter.consume(Metrics(req))
    # NO_RECORDED_VALUE: a stale native histogram ends the series
    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="rpc.latency", unit="s")
    m.exponential_histogram.aggregation_temporality = DELTA
    m.exponential_histogram.data_points.add(time_unix_nano=(t0 + 20_000) * 1_000_000, flags=1)
    await built.exporter.consume(Metrics(req))
    await drain(built)
    await built.shutdown()
    assert prometheus_native.query("rpc_latency_seconds", time=(t0 + 21_000) / 1000) == []
    result = prometheus_native.query("rpc_latency_seconds", time=(t0 + 15_000) / 1000)
    assert len(result) == 1
    hist = result[0]["histogram"][1]
    assert hist["count"] == "20" and hist["sum"] == "24"  # the two deltas added up
    buckets = {(float(lo), float(hi)): int(c) for _, lo, hi, c in hist["buckets"]}
    assert buckets[(-1e-128, 1e-128)] == 4
    assert buckets[(2.0, 2 ** (1 + 1 / 256))] == 16  # OTLP 1024..1027 at scale 10 -> one bucket at schema 8
    assert prometheus_native.value("histogram_count(rpc_latency_seconds)", time=(t0 + 15_000) / 1000) == 20.0


async def test_rejected_request_is_dropped_and_the_next_goes_through(prometheus: Prometheus) -> None:
    import aiohttp

    from edgetel.exporters.prometheusremotewrite import encode as enc

    t = now_ms() - 60_000
    # another writer already wrote a newer sample of `contested`: ours (older) is out of order -> HTTP 400
    labels = enc.encode_labels([("__name__", "contested"), ("job", "svc"), ("otel_scope_name", "test")])
    body = enc.compress(
        enc.float_entry(enc.float_prefix(labels), enc.pack_double(9.0), b"\x10" + enc.varint(t + 30_000))
    )
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            prometheus.write_url,
            data=body,
            headers={
                "Content-Encoding": "snappy",
                "Content-Type": "application/x-protobuf",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            },
        ) as r,
    ):
        assert r.status == 204
    built = exporter(prometheus, target_info=False)
    await built.exporter.start()
    await built.exporter.consume(Builder().gauge("contested", [(t, 1.0)]).gauge("innocent", [(t, 2.0)]).done())
    await built.exporter.consume(Builder().gauge("later", [(t + 1000, 3.0)]).done())
    await drain(built)
    await built.shutdown()
    assert prometheus.value("later") == 3.0
    assert prometheus.value("contested") == 9.0
    assert built.value("edgetel_exporter_prw_samples_dropped_total", reason="rejected") == 2
    assert built.value("edgetel_exporter_send_errors_total", code="400") == 1
    assert built.value("edgetel_exporter_retries_total") == 0


async def test_outage_loses_nothing(prometheus: Prometheus) -> None:
    """Prometheus stopped while data keeps coming, then started on the same data directory: every sample
    arrives, none is rejected (in-memory queue)."""
    retry = {"initial_interval": "50ms", "max_interval": "300ms", "max_elapsed_time": "60s"}
    built = exporter(prometheus, retry_on_failure=retry, max_samples_per_send=7)
    await built.exporter.start()
    t0 = now_ms() - 10 * 60_000
    n = 60
    try:
        for i in range(n):
            b = Builder().sum("ticks", [(t0 + i * 1000, float(i))], attrs={"k": "a"})
            b.sum("ticks", [(t0 + i * 1000, float(2 * i))], attrs={"k": "b"})
            await built.exporter.consume(b.done())
            if i == 15:
                await asyncio.to_thread(prometheus.stop)
            if i == 45:
                await asyncio.to_thread(prometheus.start)
            await asyncio.sleep(0.03)
        await drain(built, within=30)
    finally:
        await built.shutdown()
    assert built.value("edgetel_exporter_retries_total") > 0
    assert prometheus.value('count_over_time(ticks_total{k="a"}[1h])', time=t0 / 1000 + 120) == n
    assert prometheus.value('count_over_time(ticks_total{k="b"}[1h])', time=t0 / 1000 + 120) == n
    assert prometheus.value('ticks_total{k="b"}', time=t0 / 1000 + n) == 2 * (n - 1)
    assert built.value("edgetel_exporter_prw_samples_dropped_total") == 0
    assert built.value("edgetel_exporter_send_failed_metric_points_total") == 0


async def test_outage_with_disk_buffer_across_an_exporter_restart(prometheus: Prometheus, tmp_path: Any) -> None:
    """Prometheus down; the exporter is stopped with its backlog on disk and a new one started: once Prometheus
    is back, every sample arrives, in order, none rejected."""
    retry = {"initial_interval": "50ms", "max_interval": "300ms", "max_elapsed_time": "60s"}
    raw = {
        "retry_on_failure": retry,
        "buffer": {"type": "disk", "directory": str(tmp_path / "buf")},
        "max_samples_per_send": 5,
    }
    t0 = now_ms() - 10 * 60_000
    n = 30
    first = exporter(prometheus, **raw)
    await first.exporter.start()
    for i in range(n // 2):
        await first.exporter.consume(Builder().sum("ticks", [(t0 + i * 1000, float(i))]).done())
    await asyncio.sleep(0.3)
    await asyncio.to_thread(prometheus.stop)
    for i in range(n // 2, n):
        await first.exporter.consume(Builder().sum("ticks", [(t0 + i * 1000, float(i))]).done())
    await first.shutdown(deadline=1.0)
    await asyncio.to_thread(prometheus.start)
    second = exporter(prometheus, **raw)
    await second.exporter.start()
    try:
        await drain(second, within=30)
    finally:
        await second.shutdown()
    assert prometheus.value("count_over_time(ticks_total[1h])", time=t0 / 1000 + 60) == n
    assert prometheus.value("ticks_total", time=t0 / 1000 + n) == n - 1
    rejected = first.value("edgetel_exporter_prw_samples_dropped_total") + second.value(
        "edgetel_exporter_prw_samples_dropped_total"
    )
    assert rejected == 0
