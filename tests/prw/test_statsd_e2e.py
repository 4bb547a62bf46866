"""End to end: StatsD clients -> `edgetel run` (statsd receiver) -> prometheusremotewrite -> a real Prometheus,
queried with PromQL: counters are cumulative (exact totals, a sane rate()), gauges are gauges, timers are
histograms in seconds whose histogram_quantile() lands in the right bucket, tags are labels."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import statsd as statsd_client
from datadog.dogstatsd import DogStatsd

from tests.agentproc import AgentProcess, free_port, wait_for
from tests.support.prometheus import Prometheus

pytestmark = [pytest.mark.peer, pytest.mark.timeout(120)]

CONFIG = """
receivers:
  statsd: {{endpoint: "127.0.0.1:{port}", aggregation_interval: 1s}}
processors:
  batch: {{timeout: 100ms}}
exporters:
  prometheusremotewrite: {{endpoint: {endpoint}}}
service:
  pipelines:
    metrics: {{receivers: [statsd], processors: [batch], exporters: [prometheusremotewrite]}}
  admin: {{endpoint: "{{admin}}"}}
"""


def test_statsd_counters_gauges_timers_in_prometheus(tmp_path: Path, prometheus: Prometheus) -> None:
    port = free_port()
    with AgentProcess(CONFIG.format(port=port, endpoint=prometheus.write_url), workdir=tmp_path) as agent:
        client = statsd_client.StatsClient("127.0.0.1", port, prefix="shop")
        dog = DogStatsd(host="127.0.0.1", port=port, disable_telemetry=True)
        dog.increment("shop.tagged", 3, tags=["env:prod", "route:/cart"])
        dog.flush()
        sent = 0
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 8.0:  # ~50 orders/s for 8 s, bounded
            client.incr("orders", 5)
            sent += 5
            client.gauge("queue_depth", 7)
            client.timing("checkout", 500 if i % 10 == 9 else 8)  # 90% at 8 ms, 10% at 500 ms
            i += 1
            time.sleep(0.1)
        timers = i

        def arrived() -> bool:
            return prometheus.value("shop_orders_total") == sent and prometheus.value("shop_checkout_seconds_count") == timers

        wait_for(arrived, timeout=20)
        assert agent.metric("edgetel_statsd_parse_errors_total") == 0
    assert prometheus.value("shop_queue_depth") == 7
    rate = prometheus.value("rate(shop_orders_total[5s])")
    assert rate is not None and 30 <= rate <= 75, rate  # ~50/s; rate() extrapolates at the window edges
    assert prometheus.value("shop_checkout_seconds_sum") == pytest.approx(
        (timers - timers // 10) * 0.008 + (timers // 10) * 0.5, rel=1e-6)
    p50 = prometheus.value("histogram_quantile(0.5, sum by (le) (shop_checkout_seconds_bucket))")
    p95 = prometheus.value("histogram_quantile(0.95, sum by (le) (shop_checkout_seconds_bucket))")
    assert p50 is not None and 0.005 < p50 <= 0.01  # the 8 ms bucket
    assert p95 is not None and 0.25 < p95 <= 0.5  # the 500 ms bucket
    labels = prometheus.series("shop_orders_total")[0]
    assert labels["__name__"] == "shop_orders_total"
    tagged = prometheus.query("shop_tagged_total")
    assert len(tagged) == 1 and float(tagged[0]["value"][1]) == 3
    assert tagged[0]["metric"]["env"] == "prod" and tagged[0]["metric"]["route"] == "/cart"
