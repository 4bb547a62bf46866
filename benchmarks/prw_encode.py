"""Remote-write encoding speed: samples per CPU-second that one core translates (OTLP -> Prometheus series),
encodes (WriteRequest protobuf) and compresses (snappy block), with realistic label sets.

10,000 series with 8-12 labels each (resource + point attributes), sent repeatedly with new timestamps and
values, in OTLP batches of 2,000 points, cut into requests of 2,000 samples. Reports:
- full: OTLP batch -> compressed request bodies (what the exporter does per batch);
- encode+compress: known series (labels cached) -> request bodies, i.e. without reading OTLP.

Run: .venv/bin/python benchmarks/prw_encode.py [--rounds N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edgetel.exporters.prometheusremotewrite import encode as enc
from edgetel.exporters.prometheusremotewrite.translate import Translator
from edgetel.pdata import Metrics

SERIES = 10_000
BATCH = 2_000
METRICS = 20  # metric names; 500 series each


def build_round(t_ms: int, rnd: random.Random) -> list[Metrics]:
    """One scrape's worth of points for every series, as OTLP batches of BATCH points."""
    batches = []
    per_metric = SERIES // METRICS
    metrics_per_batch = BATCH // per_metric
    for first in range(0, METRICS, metrics_per_batch):
        req = ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        for k, v in (("service.name", "edge-agent"), ("service.instance.id", "host-17:9100"), ("host.name", "h17")):
            rm.resource.attributes.add(key=k).value.string_value = v
        sm = rm.scope_metrics.add()
        sm.scope.name = "bench"
        for m_i in range(first, first + metrics_per_batch):
            m = sm.metrics.add(name=f"app.requests.m{m_i}", unit="{request}")
            if m_i % 2:
                m.sum.is_monotonic = True
                m.sum.aggregation_temporality = 2
                points = m.sum.data_points
            else:
                points = m.gauge.data_points
            for s in range(per_metric):
                dp = points.add(time_unix_nano=t_ms * 1_000_000, as_double=rnd.random() * 1000)
                n_attrs = 6 + s % 5  # with job, instance, scope and __name__: 10-14 labels... 8-12 from points
                for a in range(n_attrs):
                    dp.attributes.add(key=f"label_{a}").value.string_value = f"value-{a}-{s % (7 + a * 13)}-{s}"
        batches.append(Metrics(req))
    return batches


def full(rounds: list[list[Metrics]], tr: Translator, t0: int) -> tuple[int, list[float], int]:
    """Samples, CPU seconds of each round, compressed bytes."""
    samples = nbytes = 0
    cpu = []
    for i, batches in enumerate(rounds):
        start = time.process_time()
        for b in batches:
            out = enc.Requests(2000, 3_000_000)
            tr.translate(b, t0 + i * 15_000, out)
            for body, n in out.finish():
                nbytes += len(enc.compress(body))
                samples += n
        cpu.append(time.process_time() - start)
    return samples, cpu, nbytes


def encode_only(tr: Translator, rounds: int, t0: int, rnd: random.Random) -> tuple[int, list[float]]:
    prefixes = [s.prefix for fam in tr._families.values() for s in fam.streams.values() if s.prefix]
    values = [[enc.pack_double(rnd.random() * 1000) for _ in prefixes] for _ in range(rounds)]
    tsc = enc.TimestampCache()
    samples = 0
    cpu = []
    for r in range(rounds):
        start = time.process_time()
        tsb = tsc.get(t0 + 10_000_000 + r * 15_000)
        vals = values[r]
        out = enc.Requests(2000, 3_000_000)
        for p, v in zip(prefixes, vals, strict=True):  # what the translator's hot loop does per known series
            buf = out.buf
            if out.count >= 2000:
                out.roll()
                buf = out.buf
            buf += p
            buf += v
            buf += tsb
            out.count += 1
        for body, n in out.finish():
            enc.compress(body)
            samples += n
        cpu.append(time.process_time() - start)
    return samples, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rnd = random.Random(1)
    t0 = int(time.time() * 1000) - 3_600_000
    rounds = [build_round(t0 + i * 15_000, rnd) for i in range(args.rounds + 1)]
    tr = Translator(max_series=100_000, stale_after=0)
    full(rounds[:1], tr, t0)  # first round: every series is new (labels built)
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    samples, cpu, nbytes = full(rounds[1:], tr, t0 + 15_000)
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    enc_samples, enc_cpu = encode_only(tr, args.rounds, t0, rnd)
    # Each round is timed on its own: the median is robust against other load on a shared machine.
    print(f"{'path':<36}{'samples':>9}{'CPU s':>8}{'median samples/s':>18}{'best':>12}{'CPU s / 1M (med)':>18}")
    for name, n, c in (
        ("full (OTLP -> snappy WriteRequest)", samples, cpu),
        ("encode+compress (labels cached)", enc_samples, enc_cpu),
    ):
        per_round = n / len(c)
        med = statistics.median(c)
        print(
            f"{name:<36}{n:>9}{sum(c):>8.3f}{per_round / med:>18,.0f}{per_round / min(c):>12,.0f}"
            f"{med / per_round * 1e6:>18.3f}"
        )
    print(
        f"series {tr.stats.series}, compressed {nbytes / samples:.1f} B/sample, "
        f"labels per series 10-14 (incl. __name__, job, instance, otel_scope_name)"
    )


if __name__ == "__main__":
    main()
