"""Policy semantics one by one, through the processor (virtual clock, one decision pass per test step)."""

from __future__ import annotations

import math
import os
import random

from edgetel.processors.tailsampling.buffer import ScopeTable, Trace
from edgetel.processors.tailsampling.percentile import LONG_TOP, LatencyPercentile
from edgetel.processors.tailsampling.policies import TraceInfo
from edgetel.processors.tailsampling.tracestate import threshold_for

from .helpers import Built, build, policy, span


async def decide(b: Built, *spans: object) -> set[bytes]:
    await b.send(*spans)  # type: ignore[arg-type]
    await b.advance(11)
    return b.out.trace_ids()


def T(n: int) -> bytes:
    return n.to_bytes(16, "big")


async def test_always_sample() -> None:
    b = build({"policies": [policy("all", "always_sample")]})
    assert await decide(b, span(1, 1), span(2, 1)) == {T(1), T(2)}
    assert [sp.trace_state for _, sp in b.out.spans()] == ["ot=th:0", "ot=th:0"]


async def test_latency_threshold_and_upper_bound() -> None:
    b = build({"policies": [policy("slow", "latency", threshold_ms=100, upper_threshold_ms=1000)]})
    # trace 1: two spans 0..60ms and 50..150ms -> duration 150ms (max end - min start)
    kept = await decide(
        b, span(1, 1, dur_ms=60), span(1, 2, parent=1, start_ms=50, dur_ms=100),
        span(2, 1, dur_ms=99), span(3, 1, dur_ms=1500), span(4, 1, dur_ms=1000),
    )  # fmt: skip
    assert kept == {T(1), T(4)}


async def test_status_code() -> None:
    b = build({"policies": [policy("errors", "status_code", status_codes=["ERROR"])]})
    kept = await decide(b, span(1, 1), span(1, 2, parent=1, status=2), span(2, 1, status=1), span(3, 1))
    assert kept == {T(1)}
    assert b.value("edgetel_tailsampling_policy_decisions_total", policy="errors", decision="sampled") == 1
    assert b.value("edgetel_tailsampling_policy_decisions_total", policy="errors", decision="not_sampled") == 2


async def test_string_attribute_exact_regex_and_invert() -> None:
    b = build({"policies": [policy("route", "string_attribute", key="http.route", values=["/checkout"])]})
    kept = await decide(b, span(1, 1, attrs={"http.route": "/checkout"}), span(2, 1, attrs={"http.route": "/x"}))
    assert kept == {T(1)}
    b = build({"policies": [policy("re", "string_attribute", key="job", values=["^batch-"],
                                   enabled_regex_matching=True)]})  # fmt: skip
    kept = await decide(b, span(1, 1, attrs={"job": "batch-nightly"}), span(2, 1, attrs={"job": "web"}))
    assert kept == {T(1)}
    b = build({"policies": [policy("inv", "string_attribute", key="k", values=["v"], invert_match=True)]})
    kept = await decide(b, span(1, 1, attrs={"k": "v"}), span(2, 1, attrs={"k": "w"}), span(3, 1))
    assert kept == {T(2), T(3)}


async def test_string_attribute_matches_resource_attributes() -> None:
    b = build({"policies": [policy("svc", "string_attribute", key="service.name", values=["billing"])]})
    kept = await decide(b, span(1, 1, service="billing"), span(2, 1, service="web"))
    assert kept == {T(1)}


async def test_numeric_and_boolean_attributes() -> None:
    b = build({"policies": [policy("code", "numeric_attribute", key="http.status_code", min_value=500,
                                   max_value=599)]})  # fmt: skip
    kept = await decide(b, span(1, 1, attrs={"http.status_code": 503}), span(2, 1, attrs={"http.status_code": 200}),
                        span(3, 1, attrs={"http.status_code": "503"}))  # fmt: skip
    assert kept == {T(1)}
    b = build({"policies": [policy("dbg", "boolean_attribute", key="debug", value=True)]})
    kept = await decide(b, span(1, 1, attrs={"debug": True}), span(2, 1, attrs={"debug": False}), span(3, 1))
    assert kept == {T(1)}


async def test_probabilistic_is_consistent_and_writes_the_threshold() -> None:
    b = build({"policies": [policy("one_percent", "probabilistic", sampling_percentage=1)]})
    t = threshold_for(1)
    rng = random.Random(7)
    ids = [rng.getrandbits(128).to_bytes(16, "big") for _ in range(3000)]
    spans = [span(i, 1) for i in ids]
    await b.send(*spans)
    await b.advance(11)
    want = {i for i in ids if int.from_bytes(i[9:], "big") >= t}
    assert b.out.trace_ids() == want
    assert 10 <= len(want) <= 60
    assert {sp.trace_state for _, sp in b.out.spans()} == {"ot=th:fd70a3d70a3d71"}


async def test_probabilistic_with_hash_salt_is_the_collectors_hash_and_writes_no_threshold() -> None:
    b = build({"policies": [policy("half", "probabilistic", sampling_percentage=50, hash_salt="s")]})
    ids = [os.urandom(16) for _ in range(1000)]
    kept = await decide(b, *[span(i, 1) for i in ids])
    assert 400 < len(kept) < 600
    assert {sp.trace_state for _, sp in b.out.spans()} == {""}


async def test_rate_limiting_budget_per_second() -> None:
    b = build({"policies": [policy("rl", "rate_limiting", spans_per_second=5)]})
    spans = [span(n, s, parent=0 if s == 1 else 1) for n in range(1, 5) for s in (1, 2)]  # 4 traces x 2 spans
    kept = await decide(b, *spans)
    assert len(kept) == 2  # 2 traces (4 spans) fit, the third would make 6


async def test_span_count() -> None:
    b = build({"policies": [policy("sc", "span_count", min_spans=2, max_spans=3)]})
    spans = [span(n, s, parent=0 if s == 1 else 1) for n in range(1, 5) for s in range(1, n + 1)]
    assert await decide(b, *spans) == {T(2), T(3)}


async def test_and_needs_every_sub_policy() -> None:
    b = build({"policies": [{"name": "slow_errors", "type": "and", "and": {"and_sub_policy": [
        policy("e", "status_code", status_codes=["ERROR"]), policy("s", "latency", threshold_ms=100)]}}]})  # fmt: skip
    kept = await decide(b, span(1, 1, status=2, dur_ms=200), span(2, 1, status=2), span(3, 1, dur_ms=200))
    assert kept == {T(1)}


async def test_drop_vetoes_every_other_policy() -> None:
    b = build({"policies": [
        policy("all", "always_sample"),
        {"name": "no_health", "type": "drop", "drop": {"drop_sub_policy": [
            policy("h", "string_attribute", key="http.route", values=["/healthz"])]}},
    ]})  # fmt: skip
    kept = await decide(b, span(1, 1, attrs={"http.route": "/healthz"}), span(2, 1, attrs={"http.route": "/"}))
    assert kept == {T(2)}


async def test_composite_order_and_budgets() -> None:
    b = build({"policies": [{"name": "budget", "type": "composite", "composite": {
        "max_total_spans_per_second": 10,
        "policy_order": ["errors", "everything"],
        "composite_sub_policy": [policy("errors", "status_code", status_codes=["ERROR"]),
                                 policy("everything", "always_sample")],
        "rate_allocation": [{"policy": "errors", "percent": 60}, {"policy": "everything", "percent": 40}],
    }}]})  # fmt: skip
    errors = [span(n, 1, status=2) for n in range(1, 9)]  # 8 one-span error traces
    plain = [span(n, 1) for n in range(100, 108)]  # 8 plain traces
    kept = await decide(b, *errors, *plain)
    kept_errors = {t for t in kept if int.from_bytes(t, "big") < 100}
    kept_plain = kept - kept_errors
    # errors: 6 within their 60% share, then 'everything' (4 spans) takes the rest within its 40%
    assert len(kept_errors) + len(kept_plain) == 10
    assert len(kept_errors) >= 6 and len(kept_plain) <= 4
    # the next second has a fresh budget
    kept2 = await decide(b, *[span(n, 1, status=2) for n in range(200, 203)])
    assert {T(200), T(201), T(202)} <= kept2


async def test_latency_percentile_learns_each_group() -> None:
    b = build({"decision_wait": "1s", "policies": [
        policy("p99", "latency_percentile", percentile=99, min_traces=100, window="5m")]})  # fmt: skip
    rng = random.Random(1)
    n = 0
    for _ in range(4):  # fast endpoint ~1-5 ms, slow endpoint ~1-5 s
        batch = []
        for _ in range(100):
            n += 1
            batch.append(span(n, 1, name="GET /fast", dur_ms=rng.uniform(1, 5)))
            n += 1
            batch.append(span(n, 1, name="GET /slow", dur_ms=rng.uniform(1000, 5000)))
        await b.send(*batch)
        await b.advance(2)
    before = b.out.trace_ids()
    assert 4 <= len(before) <= 40
    await b.send(span(10_001, 1, name="GET /fast", dur_ms=50), span(10_002, 1, name="GET /slow", dur_ms=900),
                 span(10_003, 1, name="GET /slow", dur_ms=8000))  # fmt: skip
    await b.advance(2)
    new = b.out.trace_ids() - before
    assert new == {T(10_001), T(10_003)}  # 50 ms is slow for /fast; 900 ms is fast for /slow


async def test_latency_percentile_uses_the_global_percentile_until_min_traces() -> None:
    b = build({"decision_wait": "1s", "policies": [
        policy("p99", "latency_percentile", percentile=50, min_traces=1000)]})  # fmt: skip
    await b.send(*[span(n, 1, name="a", dur_ms=10) for n in range(1, 41)])
    await b.send(*[span(n, 1, name="b", dur_ms=1000) for n in range(41, 101)])
    await b.advance(2)
    await b.send(span(500, 1, name="a", dur_ms=500), span(501, 1, name="b", dur_ms=1000))
    await b.advance(2)
    # the global median is 1 s (60 of 100 traces): 500 ms is below it even for 'a', whose own median is 10 ms
    assert T(501) in b.out.trace_ids() and T(500) not in b.out.trace_ids()


async def test_latency_percentile_overflow_group() -> None:
    b = build({"policies": [policy("p", "latency_percentile", max_groups=2, min_traces=1)]})
    await decide(b, *[span(n, 1, name=f"op{n}") for n in range(1, 6)])
    p = b.proc._keep[0]
    assert len(p.groups) == 2 and p.overflow.count == 3  # type: ignore[attr-defined]


async def test_attribute_policies_skip_traces_that_never_mention_the_key() -> None:
    b = build({"policies": [policy("job", "string_attribute", key="job.kind", values=["batch"])]})
    # the key text appears as a value only: parsed, checked properly, not kept
    kept = await decide(b, span(1, 1, attrs={"note": "job.kind"}), span(2, 1, attrs={"job.kind": "batch"}),
                        span(3, 1))  # fmt: skip
    assert kept == {T(2)}


async def test_learned_percentiles_survive_a_reload() -> None:
    raw = {"policies": [policy("p", "latency_percentile", min_traces=1)]}
    b = build(raw)
    await decide(b, *[span(n, 1, name="op") for n in range(1, 50)])
    from edgetel.processors.tailsampling.processor import TailSamplingProcessor

    again = TailSamplingProcessor(b.proc._ctx, b.config, b.out, clock=b.clock)  # same ctx.state: a reload
    assert again._keep[0].groups is b.proc._keep[0].groups  # type: ignore[attr-defined]


async def test_latency_percentile_confidence_lowers_the_threshold() -> None:
    """confidence 90: the threshold is the 90% lower confidence bound of the P99, so a trace a little below the
    window's P99 is kept too; the plain estimate (confidence 50) keeps only those at or above it."""
    kept = {}
    for conf in (50, 90):
        b = build({"decision_wait": "1s", "policies": [
            policy("p99", "latency_percentile", percentile=99, min_traces=100, confidence=conf)]})  # fmt: skip
        # durations 1..1000 ms: P99 = 990 ms; the 90% bound is rank ceil(990 - 1.28 * sqrt(9.9)) = 986 -> 986 ms
        await b.send(*[span(n, 1, name="op", dur_ms=n) for n in range(1, 1001)])
        await b.advance(2)
        before = b.out.trace_ids()
        await b.send(span(5001, 1, name="op", dur_ms=988), span(5002, 1, name="op", dur_ms=980))
        await b.advance(2)
        kept[conf] = b.out.trace_ids() - before
    assert kept[50] == set()
    assert kept[90] == {T(5001)}


def _feed(pol: LatencyPercentile, scopes: ScopeTable, sid: int, now: float, seconds: float) -> bool:
    t = Trace(b"t", now, "")
    t.root_name, t.root_scope, t.start, t.end = "GET /", sid, 0, int(seconds * 1e9)
    return pol.evaluate(TraceInfo(t, scopes, now)) is not None


def test_max_window_uses_the_long_history_until_the_latency_changes() -> None:
    """max_window: a group uses up to an hour of history while its last 5 minutes agree with it; when the latency
    changes, within seconds the last 5 minutes alone (which then follow the change as without max_window)."""
    scopes = ScopeTable()
    sid = scopes.intern(b"", b"", "svc")
    scopes.ref(sid)
    pol = LatencyPercentile("slow", 99, ["service.name", "span.name"], 300, 100, 10, 50, 3600)
    plain = LatencyPercentile("slow", 99, ["service.name", "span.name"], 300, 100, 10, 50)
    key = ("svc", "GET /")
    rng = random.Random(5)
    now = 0.0
    for _ in range(30 * 60 * 10):  # 30 minutes at 10 traces/s, log-normal around 100 ms
        now += 0.1
        d = 0.1 * math.exp(rng.gauss(0, 0.5))
        _feed(pol, scopes, sid, now, d)
        _feed(plain, scopes, sid, now, d)
    long_p99 = pol.long[key].quantile_cached(0.99, now, max_age=60.0)
    assert pol.threshold(key, now) == long_p99 != plain.threshold(key, now)
    assert long_p99 is not None and abs(math.log(long_p99 / (0.1 * math.exp(2.326 * 0.5)))) < 0.05
    for _ in range(10 * 60):  # the latency triples: within a minute the long history is set aside
        now += 0.1
        d = 0.3 * math.exp(rng.gauss(0, 0.5))
        _feed(pol, scopes, sid, now, d)
        _feed(plain, scopes, sid, now, d)
    assert pol.threshold(key, now) == plain.threshold(key, now) != pol.long[key].quantile(0.99, now)
    assert len(pol.long) == 1 and pol.long[key].exact_values() <= 5 * LONG_TOP


def test_max_window_off_by_default_and_with_a_window_as_long() -> None:
    assert LatencyPercentile("s", 99, ["span.name"], 300, 100, 10).max_window == 0.0
    assert LatencyPercentile("s", 99, ["span.name"], 300, 100, 10, 50, 300).max_window == 0.0
    b = build({"policies": [policy("p99", "latency_percentile", window="5m", max_window="1h")]})
    pol = b.proc._keep[0]
    assert isinstance(pol, LatencyPercentile) and pol.max_window == 3600.0
