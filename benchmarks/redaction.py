"""Redaction overhead: CPU time per span of the redaction processor with the default agent.yaml rules
(allow_all_keys, every default detector, URL and DB sanitizers, gen_ai removal) on realistic spans.

A realistic span: 15 attributes (HTTP server + DB client semantic conventions, a URL with a per-request id and a
query string, a SQL statement with literals, a user agent, ids), one exception event with a message and a short
stack trace, a status message on 1 in 10 spans. Values that change per request (ids in the URL, the SQL, order
ids, exception messages) are unique per span, so they miss the cache as in real traffic; everything else repeats.
Each batch holds 512 spans and is processed once (fresh copies), as in the agent.

The processor runs its compiled walk over the batch's bytes (edgetel._native.redact, see
processors/redaction/fastpath.py) when the module is built; the rows marked "Python walker" run the same batches
through the Python walker (the reference and fallback) for comparison.

Scenarios:
- default: the default agent.yaml rules;
- default, all-unique: every string value unique (worst case for the caches);
- detectors only: allow_all_keys + detectors, no sanitizers;
- walk only: every key in ignored_keys (the cost of reading the messages, for comparison);
- metrics: 512 data points with 6 attributes each (StatsD-like tags), default rules;
- default / metrics with the Python walker.

A second table splits the default cost per span into its parts: reading the attributes through the protobuf
objects (no rules at all), and the rules applied to the values that are unique per span (URL, SQL statement,
exception message), each on fresh values so that no cache helps except the shape cache where it applies.

Run: .venv/bin/python benchmarks/redaction.py [--batches N] [--rounds N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import random
import statistics
import time
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.pdata import Batch, Metrics, Traces
from edgetel.pipeline.sockets import SocketPool
from edgetel.processors.redaction.config import RedactionConfig
from edgetel.processors.redaction.factory import factory
from edgetel.processors.redaction.processor import RedactionProcessor
from edgetel.telemetry.selfmetrics import Registry

SPANS = 512

DEFAULT_RULES: dict[str, Any] = {  # the default agent.yaml's redaction processor
    "allow_all_keys": True,
    "redact_all_types": True,
    "url_sanitizer": {"enabled": True},
    "db_sanitizer": {
        name: {"enabled": True} for name in ("sql", "redis", "valkey", "memcached", "mongo", "opensearch", "es")
    },
}

STACK = (
    'Traceback (most recent call last):\n  File "/srv/shop/api/orders.py", line 118, in handle_order\n'
    '    order = repo.get(order_id)\n  File "/srv/shop/repo.py", line 42, in get\n'
    "    raise NotFound(order_id)\nshop.repo.NotFound: order not found"
)


def _set(kvs: Any, key: str, value: str | int) -> None:
    v = kvs.add(key=key).value
    if isinstance(value, str):
        v.string_value = value
    else:
        v.int_value = value


def build_traces(seed: int, all_unique: bool = False) -> Traces:
    rnd = random.Random(seed)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in (("service.name", "shop-api"), ("service.version", "2.14.1"), ("host.name", "edge-17")):
        _set(rs.resource.attributes, k, v)
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    for i in range(SPANS):
        n = seed * SPANS + i
        u = f"-{n}" if all_unique else ""
        order = 100000 + rnd.randrange(900000)
        sp = ss.spans.add(name="GET /api/orders/{order_id}", kind=2)
        sp.trace_id = rnd.randbytes(16)
        sp.span_id = rnd.randbytes(8)
        sp.start_time_unix_nano = 1_700_000_000_000_000_000 + n
        sp.end_time_unix_nano = sp.start_time_unix_nano + 1_500_000
        a = sp.attributes
        _set(a, "http.request.method", "GET" + u)
        _set(a, "url.full", f"https://shop.example.com/api/orders/{order}?include=items&page={i % 5}")
        _set(a, "url.scheme", "https" + u)
        _set(a, "http.route", "/api/orders/{order_id}" + u)
        _set(a, "http.response.status_code", 200 if i % 10 else 404)
        _set(a, "server.address", "shop.example.com" + u)
        _set(a, "server.port", 443)
        _set(a, "client.address", f"10.0.{i % 4}.{i % 200}")
        _set(a, "user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0" + u)
        _set(a, "network.protocol.version", "1.1" + u)
        _set(a, "db.system", "postgresql" + u)
        _set(a, "db.statement", f"SELECT id, status, total FROM orders WHERE id = {order} AND tenant = 'acme'")
        _set(a, "app.order.id", str(order))
        _set(a, "app.tenant", "acme" + u)
        _set(a, "thread.name", f"worker-{i % 8}" + u)
        ev = sp.events.add(name="exception", time_unix_nano=sp.end_time_unix_nano)
        _set(ev.attributes, "exception.type", "shop.repo.NotFound" + u)
        _set(ev.attributes, "exception.message", f"order {order} not found")
        _set(ev.attributes, "exception.stacktrace", STACK + u)
        if i % 10 == 0:
            sp.status.code = 2
            sp.status.message = f"order {order} not found"
    return Traces(req)


def build_metrics(seed: int) -> Metrics:
    rnd = random.Random(seed)
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    _set(rm.resource.attributes, "service.name", "statsd")
    sm = rm.scope_metrics.add()
    for m_i in range(16):
        m = sm.metrics.add(name=f"shop.checkout.m{m_i}")
        for p in range(SPANS // 16):
            dp = m.sum.data_points.add(as_int=rnd.randrange(100))
            for k, v in (
                ("env", "prod"),
                ("region", f"eu-{p % 3}"),
                ("endpoint", f"/api/v{p % 2}/orders"),
                ("status", str(200 + p % 3)),
                ("host", f"web-{p % 20}"),
                ("customer_tier", "gold"),
            ):
                _set(dp.attributes, k, v)
    return Metrics(req)


class _Sink:
    mutates = False

    async def consume(self, batch: Batch) -> None:
        pass


def make(rules: dict[str, Any], python_walker: bool = False) -> Any:
    problems = Problems("bench")
    cfg = decode(RedactionConfig, rules, problems)
    assert not problems.items, problems.items
    ctx = CreateContext(
        id=ComponentID("redaction"),
        kind=Kind.PROCESSOR,
        logger=logging.getLogger("bench"),
        metrics=Registry(),
        sockets=SocketPool(),
        lifecycle=Lifecycle(),
    )
    proc = factory.create(ctx, cfg, _Sink())
    if python_walker:
        assert isinstance(proc, RedactionProcessor)
        proc.fast = None
    return proc


def timed(proc: Any, loop: asyncio.AbstractEventLoop, batch: Batch) -> float:
    """Microseconds of CPU per item for one batch."""
    t0 = time.process_time()
    loop.run_until_complete(proc.consume(batch))
    return (time.process_time() - t0) / batch.item_count() * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=8, help="distinct batches per scenario (ids differ)")
    ap.add_argument("--rounds", type=int, default=5, help="times each batch is processed (fresh copies)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    walk_rules = {
        "allow_all_keys": True,
        "ignored_key_patterns": [".*"],
        "detectors": {k: False for k in _detector_names()},
    }
    scenarios: list[tuple[str, dict[str, Any], Any, bool]] = [
        ("default", DEFAULT_RULES, build_traces, False),
        ("default, all values unique", DEFAULT_RULES, lambda s: build_traces(s, all_unique=True), False),
        ("detectors only", {"allow_all_keys": True}, build_traces, False),
        ("walk only (no rules)", walk_rules, build_traces, False),
        ("metrics, default", DEFAULT_RULES, build_metrics, False),
        ("default, Python walker", DEFAULT_RULES, build_traces, True),
        ("metrics, Python walker", DEFAULT_RULES, build_metrics, True),
    ]
    if make(DEFAULT_RULES).fast is None:
        print("edgetel._native.redact is not built: every row is the Python walker")
    if args.profile:
        prof = cProfile.Profile()
        proc = make(DEFAULT_RULES)
        loop = asyncio.new_event_loop()
        batches = [Traces.parse(build_traces(s).serialize()) for s in range(args.batches)]
        prof.enable()
        for b in batches:
            loop.run_until_complete(proc.consume(b))
        prof.disable()
        loop.close()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
        return
    # Scenarios are interleaved batch by batch so that a busy machine slows them alike; every round uses new
    # processors (cold caches warmed by the first two batches, which are not counted) and fresh batch copies.
    loop = asyncio.new_event_loop()
    data = [[build(s).serialize() for s in range(args.batches)] for _, _, build, _ in scenarios]
    results: list[list[float]] = [[] for _ in scenarios]
    for _ in range(args.rounds):
        procs = [make(rules, py) for _, rules, _, py in scenarios]
        for i in range(args.batches):
            for j, (_, _, build, _) in enumerate(scenarios):
                kind = Traces if build is not build_metrics else Metrics
                batch = kind.parse(data[j][i])
                us = timed(procs[j], loop, batch)
                if i >= 2:
                    results[j].append(us)
    loop.close()
    print(
        f"redaction processor: CPU time per item, batches of {SPANS} items, {args.batches - 2} batches x {args.rounds} rounds"
    )
    print(f"{'scenario':30s} {'min us':>8s} {'median us':>10s} {'items/CPU-s (median)':>21s}")
    for (name, _, _, _), per_item in zip(scenarios, results, strict=True):
        med = statistics.median(per_item)
        print(f"{name:30s} {min(per_item):8.2f} {med:10.2f} {1e6 / med:21.0f}")
    components()


def components() -> None:
    """CPU microseconds per call of the parts of the per-span cost: the compiled walk alone (the same batches
    again, so every cache is warm), then the Python walker's parts."""
    proc = make(DEFAULT_RULES)
    rules = proc.rules
    n = 4000
    rows: list[tuple[str, float]] = []
    if proc.fast is not None:
        raws = [build_traces(s).serialize() for s in range(8)]
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            for raw in raws:
                proc.fast.walker.traces(raw, {})
            best = min(best, (time.process_time() - t0) / (len(raws) * SPANS) * 1e6)
        rows.append(("compiled walk alone, warm caches (per span)", best))
    spans = [sp for s in range(8) for sp in build_traces(s).request.resource_spans[0].scope_spans[0].spans]

    def read() -> None:
        for sp in spans:
            for kv in sp.attributes:
                _ = kv.key, kv.value.string_value
            for ev in sp.events:
                for kv in ev.attributes:
                    _ = kv.key, kv.value.string_value

    t0 = time.process_time()
    read()
    rows.append(("Python walker: read 18 attributes (protobuf)", (time.process_time() - t0) / len(spans) * 1e6))
    url_fn = rules.classify("url.full").fn
    sql_fn = rules.classify("db.statement").fn
    for name, fn, values in (
        (
            "Python: url.full sanitizer + detectors",
            url_fn,
            [f"https://shop.example.com/o/{i}?a=b&p={i}" for i in range(n)],
        ),
        (
            "Python: db.statement sanitizer + detectors",
            sql_fn,
            [f"SELECT a FROM t WHERE id = {i} AND x = 'y'" for i in range(n)],
        ),
        ("Python: exception.message detectors", rules.scan, [f"order {i} not found in region eu-{i % 7}" for i in range(n)]),
    ):
        t0 = time.process_time()
        for v in values:
            fn(v)
        rows.append((name, (time.process_time() - t0) / n * 1e6))
    print(f"\n{'part of the default cost, per span / value':45s} {'us':>8s}")
    for name, us in rows:
        print(f"{name:45s} {us:8.2f}")


def _detector_names() -> list[str]:
    from edgetel.processors.redaction.config import DetectorsConfig

    return list(vars(DetectorsConfig()))


if __name__ == "__main__":
    main()
