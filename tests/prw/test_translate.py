"""The translator on its own: label rules, histograms, summaries, delta state and bounds."""

from __future__ import annotations

import struct

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edgetel.exporters.prometheusremotewrite.encode import Requests
from edgetel.exporters.prometheusremotewrite.translate import Translator
from edgetel.pdata import Metrics
from tests.prw.otlp import DELTA, Builder
from tests.prw.wire import Series, write_request

T = 1_700_000_000_000


def translate(tr: Translator, batch: Metrics) -> list[Series]:
    out = Requests(10**9, 10**12)
    tr.translate(batch, T, out)
    return write_request(b"".join(body for body, _ in out.finish())).series


def by_labels(series: list[Series]) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(s.labels): s.value() for s in series}


def test_colliding_label_names_are_joined_in_original_key_order() -> None:
    b = Builder().gauge("g", [(T, 1.0)], attrs={"a.b": "dot", "a-b": "dash", "a_b": "under"})
    (s,) = translate(Translator(target_info=False), b.done())
    assert dict(s.labels)["a_b"] == "dash;dot;under"  # "a-b" < "a.b" < "a_b"


def test_job_and_instance_win_over_attributes_and_external_labels_lose() -> None:
    b = Builder(resource={"service.instance.id": "i-9"}).gauge("g", [(T, 1.0)], attrs={"job": "x", "env": "dev"})
    (s,) = translate(Translator(target_info=False, external_labels={"env": "prod", "region": "eu"}), b.done())
    labels = dict(s.labels)
    assert labels["job"] == "svc" and labels["instance"] == "i-9"
    assert labels["env"] == "dev" and labels["region"] == "eu"


def test_attribute_value_types() -> None:
    b = Builder().gauge("g", [(T, 1.0)], attrs={"b": True, "i": 42, "d": 0.5, "s": "x"})
    (s,) = translate(Translator(target_info=False), b.done())
    labels = dict(s.labels)
    assert (labels["b"], labels["i"], labels["d"], labels["s"]) == ("true", "42", "0.5", "x")


def test_histogram_series() -> None:
    b = Builder().histogram("lat", [(T, [1, 2, 3], 4.5)], bounds=[0.25, 1.0], unit="s")
    got = {(s.name, dict(s.labels).get("le")): s.value() for s in translate(Translator(target_info=False), b.done())}
    assert got == {
        ("lat_seconds_bucket", "0.25"): 1.0,
        ("lat_seconds_bucket", "1"): 3.0,
        ("lat_seconds_bucket", "+Inf"): 6.0,
        ("lat_seconds_sum", None): 4.5,
        ("lat_seconds_count", None): 6.0,
    }


def test_delta_histograms_accumulate() -> None:
    tr = Translator(target_info=False)
    for i in range(3):
        b = Builder().histogram("lat", [(T + i, [1, 0, 2], 2.0)], bounds=[1.0, 2.0], temporality=DELTA)
        got = {(s.name, dict(s.labels).get("le")): s.value() for s in translate(tr, b.done())}
    assert got[("lat_bucket", "1")] == 3.0
    assert got[("lat_bucket", "+Inf")] == 9.0
    assert got[("lat_count", None)] == 9.0
    assert got[("lat_sum", None)] == 6.0


def test_summary_series() -> None:
    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="rpc.duration", unit="ms")
    dp = m.summary.data_points.add(time_unix_nano=T * 1_000_000, count=10, sum=55.0)
    dp.quantile_values.add(quantile=0.5, value=5.0)
    dp.quantile_values.add(quantile=0.99, value=9.9)
    got = {(s.name, dict(s.labels).get("quantile")): s.value() for s in translate(Translator(), Metrics(req))}
    assert got == {
        ("rpc_duration_milliseconds", "0.5"): 5.0,
        ("rpc_duration_milliseconds", "0.99"): 9.9,
        ("rpc_duration_milliseconds_sum", None): 55.0,
        ("rpc_duration_milliseconds_count", None): 10.0,
    }


def test_int_points_and_non_monotonic_delta_sums() -> None:
    tr = Translator(target_info=False)
    for i, v in enumerate((5, -2, 4)):
        b = Builder().sum("queue.depth", [(T + i, v)], monotonic=False, temporality=DELTA, as_int=True)
        (s,) = translate(tr, b.done())
    assert s.name == "queue_depth" and s.value() == 7.0


def test_max_series_evicts_the_least_recently_seen() -> None:
    tr = Translator(target_info=False, max_series=100)
    for i in range(150):
        translate(tr, Builder().gauge("g", [(T + i, 1.0)], attrs={"i": i}).done())
    assert tr.stats.series <= 100
    assert tr.stats.evicted >= 50


def test_target_info_needs_job_or_instance_and_other_attributes() -> None:
    assert all(s.name != "target_info" for s in translate(Translator(), Builder().gauge("g", [(T, 1)]).done()))
    b = Builder(resource={"os.type": "linux"}).gauge("g", [(T, 1.0)])
    info = [s for s in translate(Translator(), b.done()) if s.name == "target_info"]
    assert len(info) == 1 and dict(info[0].labels)["os_type"] == "linux" and info[0].value() == 1.0


def test_no_recorded_value_is_a_stale_marker_for_every_histogram_series() -> None:
    b = Builder().histogram("lat", [(T, [1, 1], 1.0)], bounds=[1.0])
    b.sm.metrics[0].histogram.data_points[0].flags = 1
    series = translate(Translator(target_info=False), b.done())
    assert len(series) == 4
    assert all(struct.unpack("<Q", s.samples[0][0])[0] == 0x7FF0000000000002 for s in series)


def test_staleness_is_judged_per_resource_clock() -> None:
    """A source whose clock lags 10 minutes behind another is not marked stale while it keeps sending."""
    tr = Translator(target_info=False, stale_after=60)
    for i in range(20):
        batch = Builder(resource={"service.instance.id": "ahead"}).gauge("g", [(T + i * 15_000, 1.0)]).done()
        lagging = Builder(resource={"service.instance.id": "behind"}).gauge("g", [(T - 600_000 + i * 15_000, 2.0)])
        batch.request.resource_metrics.extend(lagging.req.resource_metrics)
        series = translate(tr, batch)
        assert all(s.value() in (1.0, 2.0) for s in series)  # no NaN: nobody went stale
    assert tr.stats.stale_markers == 0


def test_a_sample_older_than_its_stale_marker_is_dropped_not_sent() -> None:
    tr = Translator(target_info=False, stale_after=60)
    translate(tr, Builder().gauge("a", [(T, 1.0)]).gauge("b", [(T, 1.0)]).done())
    series = translate(tr, Builder().gauge("a", [(T + 120_000, 1.0)]).done())
    stale = [s for s in series if s.name == "b"]
    assert len(stale) == 1 and struct.unpack("<Q", stale[0].samples[0][0])[0] == 0x7FF0000000000002
    marker_ts = stale[0].samples[0][1]
    assert translate(tr, Builder().gauge("b", [(marker_ts - 1, 5.0)]).done()) == []
    assert tr.stats.dropped == {"out_of_order": 1}
    (back,) = translate(tr, Builder().gauge("b", [(marker_ts + 1, 6.0)]).done())
    assert back.value() == 6.0
